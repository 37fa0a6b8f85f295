"""The pipeline cut into the steps of the service's task graph, one plain function each.

Every step takes a store and a job id (and a shard/batch index or a scorer name), calls the
same library functions as ``autointerp run`` (:mod:`autointerp.stages`), writes its output
atomically to the job's folder and returns a small typed dict
(:mod:`autointerp.service.stepdata`). A step whose output is already on the store returns at
once (``skipped``), so running a step twice — a redelivered task, a resubmitted job — writes
its rows once; the explain and score steps then redo only the rows that failed (explanations
with status ``llm_error``, score rows ``partial`` or ``failed``) and reopen their batch, so a
rerun repairs a finished job. Nothing here imports Celery: the Celery tasks
(:mod:`autointerp.tasks`) and ``autointerp run`` (:mod:`autointerp.service.inprocess`) drive
the same steps.

    plan ─► cache_shard × n ─► merge_stats ─► replay_shard × m ─► per batch: sample ─►
        explain ─► score × scorers ─► write_batch ─► finalise

``merge_stats`` plans the replay: the union of the windows every batch needs, replayed once
in shards (``replay_shard``), so the replay costs at most one pass over the corpus whatever
the number of latents; each batch's ``sample`` reads its activations from that store.

One module per concern: the job's inputs kept in this process (:mod:`.loaded`), what earlier
steps left on the store (:mod:`.staged`), planning and caching (:mod:`.planning`), the replay
(:mod:`.replay`), a batch's sample/explain/score (:mod:`.batch`), its tables and the job's
(:mod:`.write`).
"""

from __future__ import annotations

from autointerp.service.steps.batch import explain_batch, sample_batch, score_batch
from autointerp.service.steps.loaded import adopt, prepared, release
from autointerp.service.steps.planning import cache_shard, merge_stats, plan
from autointerp.service.steps.replay import replay_plan, replay_shard, replayed
from autointerp.service.steps.staged import NotReadyError
from autointerp.service.steps.write import BATCH_TABLES, finalise, write_batch

__all__ = [
    "BATCH_TABLES",
    "NotReadyError",
    "adopt",
    "cache_shard",
    "explain_batch",
    "finalise",
    "merge_stats",
    "plan",
    "prepared",
    "release",
    "replay_plan",
    "replay_shard",
    "replayed",
    "sample_batch",
    "score_batch",
    "write_batch",
]
