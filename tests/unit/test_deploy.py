"""The Jenkins deployment as files: the plugin closure, the agent's entrypoint, the `docker run` of every build
step, compose, the Jenkinsfile's timeouts and the stand-up commands of docs/jenkins.md.

No Docker engine or Jenkins server exists here: the entrypoint runs on a copy of /etc, run-train.sh against a
stand-in `docker` that records its arguments (the boundary), and the stand-up's commands that need no Docker run for
real in a copy of docker/jenkins; the `docker ...` ones are checked against the files they name.
"""

import importlib.util
import re
import shlex

import yaml
from helpers import REPO
from support.deploy import JENKINS, standup_commands


def _update_plugins():
    spec = importlib.util.spec_from_file_location("update_plugins", JENKINS / "update-plugins.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- plugins: the whole closure pinned, checked against what each plugin declares ----


def plugin_problems(plugins_txt: str, deps_txt: str, core: str) -> list[str]:
    """Why this plugins.txt cannot start on `core`: a declared dependency missing or pinned below its minimum,
    an installed optional one below its minimum, a plugin that needs a newer core; [] when none."""
    key = _update_plugins().version_key
    pins = {}
    for line in plugins_txt.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition(":")
            pins[name] = version
    problems, described = [], set()
    for line in deps_txt.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        plugin, kind, rest = line.split(maxsplit=2)
        name, _, version = plugin.partition(":")
        if pins.get(name) != version:
            continue  # what another version declares
        described.add(name)
        if kind == "jenkins":
            if key(rest) > key(core):
                problems.append(f"{plugin} needs Jenkins {rest}, newer than the pinned {core}")
            continue
        dep, _, minimum = rest.split()[0].partition(":")
        optional = rest.endswith(" optional")
        if dep not in pins:
            if not optional:
                problems.append(f"{plugin} needs {dep}:{minimum}, which plugins.txt does not pin")
        elif key(pins[dep]) < key(minimum):
            problems.append(f"{plugin} needs {dep}:{minimum}, plugins.txt pins {dep}:{pins[dep]}")
    unverified = set(re.findall(r"^# ([\w.-]+):\S+ unverified", deps_txt, re.M))
    problems += [f"{name}: not in plugins-deps.txt" for name in sorted(set(pins) - described - unverified)]
    return problems


def _core() -> str:
    [core] = re.findall(r"^FROM jenkins/jenkins:([\d.]+)-lts-jdk21$", (JENKINS / "Dockerfile").read_text(), re.M)
    return core


def test_plugins_pin_the_whole_closure():
    plugins, deps = (JENKINS / "plugins.txt").read_text(), (JENKINS / "plugins-deps.txt").read_text()
    assert plugin_problems(plugins, deps, _core()) == []
    lines = [line for line in plugins.splitlines() if line and not line.startswith("#")]
    assert len(lines) > 60 and all(re.fullmatch(r"[a-z0-9-]+:[\w.-]+", line) for line in lines)
    top = plugins.split("# ---- their dependencies")[0]
    for used in ["workflow-aggregator", "docker-workflow", "lockable-resources", "mailer", "ssh-slaves", "job-dsl"]:
        assert f"\n{used}:" in top
    assert "--latest false" in (JENKINS / "Dockerfile").read_text()


def test_plugin_check_names_each_problem():
    plugins = "a:2.0\nb:1.5\n"
    deps = "a:2.0 jenkins 2.500.1\na:2.0 needs b:1.10\na:2.0 needs c:3\na:2.0 needs d:1 optional\nb:1.5 jenkins 2.600\n"
    assert plugin_problems(plugins, deps, "2.568.2") == [
        "a:2.0 needs b:1.10, plugins.txt pins b:1.5",
        "a:2.0 needs c:3, which plugins.txt does not pin",
        "b:1.5 needs Jenkins 2.600, newer than the pinned 2.568.2",
    ]
    assert plugin_problems("a:2.0\ne:1\n", "a:2.0 jenkins 1\n", "2.568.2") == ["e: not in plugins-deps.txt"]


def test_update_plugins_resolves_like_latest_false():
    """update-plugins.py: each dependency at the highest minimum any pinned plugin declares, transitively;
    optional ones only when something pins them anyway."""
    up = _update_plugins()
    assert up.version_key("9.9-185.va") < up.version_key("9.9.1-189.vb") < up.version_key("9.10-1.x")
    assert up.version_key("1415.v831096eb_5534") < up.version_key("1480.v2246fd131e83")

    def plugin(deps, core="2.479.3"):
        return {"dependencies": deps, "requiredCore": core}

    def dep(name, version, optional=False):
        return {"name": name, "version": version, "optional": optional}

    versions = {
        "top": {"1": plugin([dep("mid", "2"), dep("low", "1"), dep("opt", "5", optional=True)])},
        "mid": {"2": plugin([dep("low", "3")]), "3": plugin([])},
        "low": {"1": plugin([]), "3": plugin([])},
    }
    assert up.closure({"top": "1"}, versions) == {"top": "1", "mid": "2", "low": "3"}
    assert up.pinned_core(JENKINS / "Dockerfile") == _core()


# ---- the agent: the Docker socket's group, its key from a file, nothing else ----


def test_compose_gives_the_agent_only_its_key():
    compose = yaml.safe_load((JENKINS / "compose.yaml").read_text())
    agent = compose["services"]["agent"]
    assert not {"env_file", "environment", "group_add"} & set(agent), "settings reach builds as credentials"
    assert agent["secrets"] == ["agent_ssh_pubkey"]
    assert compose["secrets"]["agent_ssh_pubkey"]["file"] == "./secrets/agent_ssh_key.pub"
    assert "/var/run/docker.sock:/var/run/docker.sock" in agent["volumes"]
    assert compose["volumes"]["agent_work"]["name"] == "faceops-agent-work"
    assert "agent_work:/home/jenkins/agent" in agent["volumes"]
    dockerfile = (JENKINS / "agent.Dockerfile").read_text()
    assert re.search(r"^FROM jenkins/ssh-agent:\d+\.\d+\.\d+-jdk21$", dockerfile, re.M)
    assert 'ENTRYPOINT ["/usr/local/bin/agent-entrypoint.sh"]' in dockerfile
    assert "DOCKER_GID" not in (JENKINS / "env.example").read_text() + (REPO / "docs/jenkins.md").read_text()
    casc = (JENKINS / "casc.yaml").read_text()
    assert "pipelineTriggers" in casc and "triggers { scm(" not in casc


# ---- every build step: one `docker run`, its arguments spelled out ----


def test_timeouts_bound_stages_not_post():
    """A pipeline-wide timeout also bounds post (pipeline-model-definition-plugin, ModelInterpreter.groovy):
    every stage has its own, and the pipeline has none."""
    text = (REPO / "Jenkinsfile").read_text()
    options = text[text.index("    options {") : text.index("    environment {")]
    assert "timeout(" not in options
    stages = re.split(r"(?m)^\s*stage\('", text.split("    post {")[0])[1:]
    assert len(stages) == 7
    for stage in stages:
        assert re.search(r"options \{ timeout\(time: \d+, unit: 'MINUTES'\) \}", stage), stage.split("'")[0]
    assert "timeout(" not in text.split("    post {")[1]
    assert 'unstable("the report could not be sent' in text


# ---- the stand-up in docs/jenkins.md: run as written ----


def test_standup_docker_commands_name_what_exists():
    """The `docker` commands: the compose file, the volumes the Jenkinsfile's steps mount, the photos folder
    the Makefile's demo uses, all as seen from the repository root."""
    commands = [command for command in standup_commands() if command.startswith("docker ")]
    run_train = (REPO / "docker/run-train.sh").read_text()
    makefile = (REPO / "Makefile").read_text()
    for command in commands:
        words = shlex.split(command.replace("&&", " "))
        for value in words:
            if value.startswith("docker/"):
                assert (REPO / value).exists(), f"{command}: {value} does not exist"
        for volume in re.findall(r"-v ([\w-]+):", command):
            assert f"src={volume}," in run_train, f"{command}: no build step mounts volume {volume}"
        for host in re.findall(r'"\$PWD/([^"]+)":', command):
            assert host == re.search(r"^DEMO_DATA \?= (\S+)", makefile, re.M).group(1), command
    assert any(command.startswith("docker compose -f docker/jenkins/compose.yaml up") for command in commands)
    env_names = set(re.findall(r"^(\w+)=", (JENKINS / "env.example").read_text(), re.M))
    secret_names = set(yaml.safe_load((JENKINS / "compose.yaml").read_text())["secrets"])
    casc = "\n".join(line for line in (JENKINS / "casc.yaml").read_text().splitlines() if not line.startswith("#"))
    for name, default in re.findall(r"\$\{(\w+)(:-[^}]*)?\}", casc):
        assert name in env_names | secret_names or default, f"casc.yaml reads ${{{name}}}, which nothing sets"


# ---- doctor --require-gpu: a matrix product on each GPU ----
