"""The deployment files (deploy/compose.yaml, deploy/example.env, docker/*.Dockerfile,
.dockerignore) agree with the code and with each other.

No Docker engine runs on the development machines, so these files are never built or run
here: this test parses them (PyYAML for compose, a small parser for Dockerfiles) and checks
what can be checked without an engine. What it runs: docker/entrypoint.sh, and the api
image's HEALTHCHECK command against a real `autointerp serve`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DOCKER = ROOT / "docker"
DOCKERFILES = ("api", "worker-cpu", "worker-gpu")
STORE = "/data/store"
COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]

# ---------------------------------------------------------------- example.env and ${VAR}


def _read_env_file(path: Path) -> tuple[dict[str, str], set[str]]:
    """``NAME=value`` lines, and the names that stand in a block opened by a comment."""
    values: dict[str, str] = {}
    documented: set[str] = set()
    in_documented_block = False
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped:
            in_documented_block = False
        elif stripped.startswith("#"):
            in_documented_block = True
        else:
            name, sep, value = stripped.partition("=")
            assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", name), f"{path}: bad line {line!r}"
            assert name not in values, f"{path}: {name} is set twice"
            values[name] = value
            if in_documented_block:
                documented.add(name)
    return values, documented


ENV, ENV_DOCUMENTED = _read_env_file(DEPLOY / "example.env")
COMPOSE_TEXT = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
# Values for interpolation: example.env leaves the required secrets empty; a filled-in .env
# has them.
REQUIRED = set(re.findall(r"\$\{(\w+):\?", COMPOSE_TEXT))
FILLED_ENV = {k: v or (f"test-{k.lower()}" if k in REQUIRED else "") for k, v in ENV.items()}


class Ref:
    """One ${NAME...} reference: its operator (``:-``, ``-``, ``:?``, ``?`` or none)."""

    def __init__(self, name: str, op: str, arg: str) -> None:
        self.name, self.op, self.arg = name, op, arg


def _interpolate(text: str, env: dict[str, str], refs: list[Ref]) -> str:
    """Compose's interpolation: $$, $NAME, ${NAME}, ${NAME:-default}, ${NAME-default},
    ${NAME:?error}, ${NAME?error}, with nested references in the default."""
    out, i = [], 0
    while i < len(text):
        if text[i] != "$":
            out.append(text[i])
            i += 1
        elif text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            depth, j = 1, i + 2
            while depth:
                assert j < len(text), f"unclosed ${{ in {text!r}"
                if text.startswith("${", j):
                    depth, j = depth + 1, j + 2
                else:
                    depth, j = depth - (text[j] == "}"), j + 1
            body = text[i + 2 : j - 1]
            m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])(.*))?", body, re.S)
            assert m, f"cannot interpolate ${{{body}}}"
            name, op, arg = m.group(1), m.group(2) or "", m.group(3) or ""
            refs.append(Ref(name, op, arg))
            value = env.get(name)
            if op in (":-", "-") and (value is None or (op == ":-" and not value)):
                value = _interpolate(arg, env, refs)
            if op in (":?", "?") and (value is None or (op == ":?" and not value)):
                raise ValueError(f"{name}: {arg}")
            out.append(value or "")
            i = j
        else:
            m = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)", text[i:])
            assert m, f"lone $ in {text!r}"
            refs.append(Ref(m.group(1), "", ""))
            out.append(env.get(m.group(1), ""))
            i += m.end()
    return "".join(out)


def _resolve(node: Any, env: dict[str, str], refs: list[Ref]) -> Any:
    """The compose tree with every string value interpolated (keys are left as they are)."""
    if isinstance(node, dict):
        return {k: _resolve(v, env, refs) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, env, refs) for v in node]
    return _interpolate(node, env, refs) if isinstance(node, str) else node


REFS: list[Ref] = []
RESOLVED: dict[str, dict[str, Any]] = _resolve(SERVICES, FILLED_ENV, REFS)


def _command(service: str) -> list[str]:
    command = RESOLVED[service].get("command", [])
    assert isinstance(command, list), f"{service}: write command as a list (exec form)"
    return [str(c) for c in command]


def _environment(service: str) -> dict[str, str]:
    env = RESOLVED[service].get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _named_mounts(service: str) -> dict[str, str]:
    """Named volume -> mount target (bind mounts, which start with . / or ~, are left out)."""
    mounts = {}
    for vol in SERVICES[service].get("volumes", []):
        source, target = (
            (vol["source"], vol["target"]) if isinstance(vol, dict) else vol.split(":")[:2]
        )
        if not source.startswith((".", "/", "~", "$")):
            mounts[source] = target
    return mounts


# ---------------------------------------------------------------- a small Dockerfile parser

# The instructions of the Dockerfile reference (MAINTAINER, deprecated, left out).
INSTRUCTIONS = (
    "FROM RUN CMD LABEL EXPOSE ENV ADD COPY ENTRYPOINT VOLUME USER WORKDIR ARG ONBUILD "
    "STOPSIGNAL HEALTHCHECK SHELL"
)


def parse_dockerfile(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comments dropped, continuation lines joined."""
    instructions, pending = [], ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("#") or (not line.strip() and not pending):
            continue  # comments (also inside a continued instruction) and blank lines
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        text, pending = (pending + line).strip(), ""
        word, _, rest = text.partition(" ")
        assert word.upper() in INSTRUCTIONS.split(), f"{path.name}: unknown instruction {word!r}"
        assert "<<" not in rest or word.upper() != "RUN", f"{path.name}: no heredocs, please"
        instructions.append((word.upper(), rest.strip()))
    assert not pending, f"{path.name}: ends inside a continued line"
    return instructions


def _exec_form(path: Path, args: str) -> list[str]:
    """CMD/ENTRYPOINT/HEALTHCHECK CMD arguments, which must be a JSON list of strings."""
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), path.name
    return value


def _last(instructions: list[tuple[str, str]], name: str) -> str | None:
    found = [args for inst, args in instructions if inst == name]
    return found[-1] if found else None


def _env_of(instructions: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for inst, args in instructions:
        if inst == "ENV":
            env.update(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)", args))
    return env


def _dockerfile(service: str) -> Path | None:
    build = SERVICES[service].get("build")
    return None if build is None else (DEPLOY / build["context"] / build["dockerfile"]).resolve()


# ---------------------------------------------------------------- .dockerignore


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    pattern = pattern.strip("/")
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        else:
            out += {"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i]))
            i += 1
    return re.compile(out)


IGNORE = [
    line.strip()
    for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.strip().startswith("#")
]


def dockerignored(relpath: str) -> bool:
    """Whether docker leaves ``relpath`` (relative to the repository root) out of the
    build context: the last matching pattern wins, a parent's exclusion covers children."""
    parts = relpath.strip("/").split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for pattern in IGNORE:
        negate = pattern.startswith("!")
        regex = _ignore_regex(pattern.lstrip("!"))
        if any(regex.fullmatch(p) for p in prefixes):
            excluded = not negate
    return excluded


# ================================================================= compose


def test_the_compose_file_has_the_services_of_the_design() -> None:
    design = "redis api worker-model worker-llm worker-io beat vllm flower"
    assert set(SERVICES) == set(design.split())


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_service_builds_from_repo_files_or_pulls_a_pinned_image(service: str) -> None:
    spec = RESOLVED[service]
    if "build" in spec:
        context = DEPLOY / spec["build"]["context"]
        assert context.resolve() == ROOT, f"{service}: build context should be the repo root"
        dockerfile = _dockerfile(service)
        assert dockerfile is not None and dockerfile.is_file(), f"{service}: {dockerfile}"
    else:
        image = spec["image"]
        name, _, tag = image.rpartition(":")
        assert name and tag and tag != "latest", f"{service}: pin the image tag ({image})"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_autointerp_commands_parse_with_the_cli_parser(service: str) -> None:
    """Every compose command (and every Dockerfile CMD) that runs ``autointerp`` is accepted
    by autointerp's own argument parser."""
    from autointerp.cli.app import build_parser

    commands = [_command(service)]
    dockerfile = _dockerfile(service)
    if dockerfile is not None:
        cmd = _last(parse_dockerfile(dockerfile), "CMD")
        assert cmd is not None, f"{dockerfile.name}: no CMD"
        commands.append(_exec_form(dockerfile, cmd))
    for argv in (c for c in commands if c and c[0] == "autointerp"):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                args = build_parser().parse_args(argv[1:])
            except SystemExit:
                pytest.fail(f"{service}: `{' '.join(argv)}` is rejected: {err.getvalue()}")
        assert args.command == argv[1]


def _queues(argv: list[str]) -> set[str]:
    for i, arg in enumerate(argv):
        if arg in ("-Q", "--queues"):
            return set(argv[i + 1].split(","))
        if arg.startswith("--queues="):
            return set(arg.split("=", 1)[1].split(","))
    return set()


def _gpu_devices(service: str) -> list[dict[str, Any]]:
    deploy = RESOLVED[service].get("deploy", {})
    return deploy.get("resources", {}).get("reservations", {}).get("devices", [])


def test_workers_consume_every_queue_and_only_the_gpu_worker_holds_the_model() -> None:
    from autointerp.tasks.app import QUEUES

    workers = {s: _command(s) for s in SERVICES if _command(s)[:2] == ["autointerp", "worker"]}
    consumed = {s: _queues(argv) for s, argv in workers.items()}
    assert set().union(*consumed.values()) == set(QUEUES)
    for service, queues in consumed.items():
        gpu = any(
            d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in _gpu_devices(service)
        )
        assert ("model" in queues) == gpu, f"{service}: model queue <=> a reserved nvidia GPU"
    argv = workers["worker-llm"]
    assert argv[argv.index("--pool") + 1] == "threads"


def test_vllm_serves_on_a_gpu_with_the_same_vllm_version_as_the_gpu_worker() -> None:
    assert any(d["driver"] == "nvidia" for d in _gpu_devices("vllm"))
    serve = RESOLVED["vllm"]["entrypoint"] + _command("vllm")
    assert serve[:2] == ["vllm", "serve"] and serve[serve.index("--port") + 1] == "8000"
    tag = RESOLVED["vllm"]["image"].rpartition(":")[2]
    assert RESOLVED["worker-model"]["build"]["args"]["VLLM_VERSION"] == tag
    assert SERVICES["vllm"]["healthcheck"]["test"]


def test_celery_commands_name_the_app_module() -> None:
    for service in SERVICES:
        argv = _command(service)
        if argv[:1] == ["celery"]:
            module, _, attr = argv[argv.index("-A") + 1].partition(":")
            path = ROOT / (module.replace(".", "/") + ".py")
            assert path.is_file(), f"{service}: -A {module}: no {path}"
            assert re.search(rf"^{attr or 'app'} = Celery\(", path.read_text(), re.M)


def test_every_referenced_variable_is_documented_in_example_env() -> None:
    names = {r.name for r in REFS}
    undocumented = sorted(names - set(ENV))
    assert not undocumented, f"deploy/example.env lacks {undocumented}"
    assert set(ENV) <= ENV_DOCUMENTED, f"no comment above {sorted(set(ENV) - ENV_DOCUMENTED)}"
    assert not set(ENV) - names, f"example.env documents unused {sorted(set(ENV) - names)}"


def test_references_have_a_default_or_a_required_guard_and_defaults_match_example_env() -> None:
    for ref in REFS:
        assert ref.op in (":-", ":?"), f"${{{ref.name}}} needs ':-default' or ':?message'"
        if ref.op == ":-" and "$" not in ref.arg:
            assert ref.arg == ENV[ref.name], f"{ref.name}: default {ref.arg!r} != example.env"
        if ref.op == ":?":
            assert ENV[ref.name] == "", f"{ref.name} is a secret: leave it empty in example.env"
    with pytest.raises(ValueError, match=r"set \w+ .*in deploy/\.env"):
        _resolve(SERVICES, ENV, [])  # example.env as it is: compose refuses to start
    assert {"AUTOINTERP_API_TOKEN", "REDIS_PASSWORD", "FLOWER_BASIC_AUTH"} <= REQUIRED


def test_autointerp_variables_are_ones_the_code_reads() -> None:
    from autointerp.service.settings import ServiceSettings

    source = "\n".join(p.read_text() for p in (ROOT / "autointerp").rglob("*.py"))
    known = {f"AUTOINTERP_{f.upper()}" for f in ServiceSettings.model_fields}
    names = set(ENV) | {k for s in SERVICES for k in _environment(s)}
    for name in sorted(n for n in names if n.startswith("AUTOINTERP_")):
        read = re.search(rf"\b{name}\b", source)
        assert name in known or read, f"{name}: no setting or code reads it"


def test_time_limits_and_the_leased_visibility_timeout() -> None:
    """Workers renew their tasks' lease every quarter of the visibility timeout (so it need
    not exceed the longest task); the compose default and example.env agree, and it is the
    service's default (a dead worker's task comes back within ~2 minutes)."""
    from autointerp.service.settings import ServiceSettings

    soft, hard = int(ENV["AUTOINTERP_TASK_SOFT_TIME_LIMIT"]), int(ENV["AUTOINTERP_TASK_TIME_LIMIT"])
    assert soft < hard
    timeout = int(ENV["AUTOINTERP_VISIBILITY_TIMEOUT"])
    assert timeout == ServiceSettings.model_fields["visibility_timeout"].default
    assert 8 <= timeout <= 300
    compose = (ROOT / "deploy" / "compose.yaml").read_text()
    assert f"AUTOINTERP_VISIBILITY_TIMEOUT:-{timeout}}}" in compose


def test_named_volumes_are_declared_and_used() -> None:
    declared = set(COMPOSE["volumes"])
    used = {name for s in SERVICES for name in _named_mounts(s)}
    assert used == declared


def test_the_store_is_mounted_at_the_same_path_in_every_autointerp_container() -> None:
    for service in SERVICES:
        argv = _command(service)
        if argv[:1] != ["autointerp"]:
            continue
        assert _named_mounts(service).get("store") == STORE, service
        assert _environment(service)["AUTOINTERP_STORE"] == STORE, service
        dockerfile = _dockerfile(service)
        assert dockerfile is not None
        assert _env_of(parse_dockerfile(dockerfile))["AUTOINTERP_STORE"] == STORE


def test_exactly_one_beat() -> None:
    beats = [s for s in SERVICES if "beat" in _command(s)[:4]]
    assert beats == ["beat"]
    assert RESOLVED["beat"].get("deploy", {}).get("replicas", 1) == 1


def test_beats_default_schedule_file_is_shipped_in_the_image() -> None:
    path = ENV["AUTOINTERP_SCHEDULE_FILE"]
    assert path.startswith("/opt/autointerp/queue/")
    copies = [a for i, a in parse_dockerfile(DOCKER / "worker-cpu.Dockerfile") if i == "COPY"]
    assert "queue ./queue" in copies
    assert (ROOT / path.removeprefix("/opt/autointerp/")).is_file(), f"no {path} in the repo"


def test_redis_is_persistent_and_health_checked() -> None:
    argv = _command("redis")
    assert argv[0] == "redis-server" and argv[argv.index("--appendonly") + 1] == "yes"
    assert _named_mounts("redis") == {"redis-data": "/data"}
    assert SERVICES["redis"]["healthcheck"]["test"]


def test_dependencies_wait_for_health() -> None:
    for service, spec in SERVICES.items():
        for dep, cond in spec.get("depends_on", {}).items():
            assert cond["condition"] == "service_healthy", f"{service} -> {dep}"
            assert "healthcheck" in SERVICES[dep], f"{dep} has no healthcheck"
    assert "redis" in SERVICES["beat"]["depends_on"]


def test_api_has_a_healthcheck_and_only_it_gets_the_api_token() -> None:
    assert _last(parse_dockerfile(DOCKER / "api.Dockerfile"), "HEALTHCHECK")
    holders = [s for s in SERVICES if "AUTOINTERP_API_TOKEN" in _environment(s)]
    assert holders == ["api"]


def _healthcheck_argv(port: int) -> list[str]:
    """The api image's HEALTHCHECK command, aimed at ``port`` and run by this Python."""
    args = _last(parse_dockerfile(DOCKER / "api.Dockerfile"), "HEALTHCHECK") or ""
    argv = _exec_form(DOCKER / "api.Dockerfile", re.split(r"\s+CMD\s+", args, maxsplit=1)[1])
    assert argv[0] == "python" and any("127.0.0.1:8000/" in a for a in argv)
    return [sys.executable, *(a.replace(":8000/", f":{port}/") for a in argv[1:])]


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A real `autointerp serve` (uvicorn) on a free loopback port, stopped by PID."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    argv = ["serve", "--host", "127.0.0.1", "--port", str(port), "--store", str(tmp_path)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "autointerp.cli", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.mark.slow
def test_the_api_images_healthcheck_passes_against_the_real_server(
    api_server: tuple[subprocess.Popen[bytes], int],
) -> None:
    proc, port = api_server
    argv = _healthcheck_argv(port)
    deadline = time.monotonic() + 90
    while subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode != 0:
        assert proc.poll() is None, "autointerp serve exited"
        assert time.monotonic() < deadline, "the healthcheck never passed"
        time.sleep(0.5)
    proc.terminate()
    proc.wait(timeout=15)
    assert subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode != 0


# ================================================================= Dockerfiles


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_is_well_formed(name: str) -> None:
    path = DOCKER / f"{name}.Dockerfile"
    instructions = parse_dockerfile(path)
    kinds = [inst for inst, _ in instructions]
    first_non_arg = next(inst for inst in kinds if inst != "ARG")
    assert first_non_arg == "FROM", f"{path.name}: FROM must come first (only ARG before it)"
    user = _last(instructions, "USER")
    assert user and user.split(":")[0] not in ("root", "0"), f"{path.name}: runs as root"
    assert kinds.index("USER") > max(i for i, k in enumerate(kinds) if k == "RUN")
    assert _last(instructions, "CMD") or _last(instructions, "ENTRYPOINT")
    for inst in ("CMD", "ENTRYPOINT"):
        if (args := _last(instructions, inst)) is not None:
            _exec_form(path, args)  # exec form: signals reach the process
    for inst, args in instructions:
        if inst == "HEALTHCHECK":
            _exec_form(path, re.split(r"\s+CMD\s+", args, maxsplit=1)[1])


@pytest.mark.parametrize("name", DOCKERFILES)
def test_every_copied_source_exists_and_is_in_the_build_context(name: str) -> None:
    path = DOCKER / f"{name}.Dockerfile"
    for inst, args in parse_dockerfile(path):
        if inst not in ("COPY", "ADD"):
            continue
        words = json.loads(args) if args.startswith("[") else args.split()
        flags = [w for w in words if w.startswith("--")]
        if any(f.startswith("--from=") for f in flags):
            continue
        sources = [w for w in words if not w.startswith("--")][:-1]
        assert sources, f"{path.name}: {inst} {args}"
        for source in sources:
            matches = list(ROOT.glob(source))
            assert matches, f"{path.name}: {inst} source {source} does not exist"
            for match in matches:
                files = [match] if match.is_file() else [p for p in match.rglob("*") if p.is_file()]
                kept = [f for f in files if "__pycache__" not in f.parts]
                lost = [f for f in kept if dockerignored(str(f.relative_to(ROOT)))]
                assert not lost, f".dockerignore drops {lost[:3]} that {path.name} copies"


@pytest.mark.parametrize("name", DOCKERFILES)
def test_base_images_and_no_secrets_baked_in(name: str) -> None:
    instructions = parse_dockerfile(DOCKER / f"{name}.Dockerfile")
    args = dict(re.findall(r"(\w+)=(\S+)", " ".join(a for i, a in instructions if i == "ARG")))
    base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], _last(instructions, "FROM") or "")
    if name == "worker-gpu":
        assert base.startswith(("nvidia/cuda:", "vllm/vllm-openai:")), base
        assert any(i == "RUN" and ".[vllm]" in a for i, a in instructions)
    else:
        assert base == "python:3.11-slim", base
    names = [n for i, a in instructions if i in ("ENV", "ARG") for n in re.findall(r"(\w+)=", a)]
    secret = [n for n in names if re.search(r"TOKEN|PASSWORD|SECRET|_KEY$", n)]
    assert not secret, f"{name}.Dockerfile sets {secret}: secrets come from the environment"


def test_dockerignore_keeps_out_environments_git_and_outputs() -> None:
    for path in (
        ".venv",
        ".venv-vllm",
        ".git",
        "autointerp-out",
        "deploy/.env",
        "autointerp/__pycache__/cli.cpython-311.pyc",
    ):
        assert dockerignored(path), f".dockerignore should list {path}"
    for path in ("pyproject.toml", "README.md", "autointerp/cli/app.py", "docker/entrypoint.sh"):
        assert not dockerignored(path), path


# ================================================================= the entrypoint


def _run_entrypoint(store: str | None, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AUTOINTERP_STORE"}
    if store is not None:
        env["AUTOINTERP_STORE"] = store
    return subprocess.run(
        ["sh", str(DOCKER / "entrypoint.sh"), *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_entrypoint_creates_the_store_and_execs_the_command(tmp_path: Path) -> None:
    store = tmp_path / "store" / "nested"
    done = _run_entrypoint(str(store), "sh", "-c", 'echo "ran with $AUTOINTERP_STORE"')
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"ran with {store}\n"
    assert store.is_dir()


def test_entrypoint_leaves_a_url_store_alone() -> None:
    done = _run_entrypoint("s3://bucket/store", "sh", "-c", "echo ran")
    assert (done.returncode, done.stdout) == (0, "ran\n"), done.stderr
    assert not Path("s3:").exists()  # no local folder made of the URL (in this cwd)


def test_entrypoint_refuses_a_store_it_cannot_write(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    done = _run_entrypoint(str(blocker / "store"), "sh", "-c", "echo should-not-run")
    assert done.returncode == 78
    assert "AUTOINTERP_STORE" in done.stderr and "should-not-run" not in done.stdout
    no_command = _run_entrypoint(None)
    assert no_command.returncode == 64 and "no command" in no_command.stderr
