"""README and the pages in docs/: their commands and the names they use hold in this repository.

README is the quick start: its first block is the two commands a newcomer runs (`make demo`, then `make test`,
which CI runs through .ci/run), and it links every page in docs/. On every page, a `faceops` command parses with
the CLI's own parser (options of a command written as a template, `[--push]`, `ID…|--all`, exist), a `make`
target and its variables are in the Makefile, a `python SCRIPT.py` exists and takes the options shown, a
params.yaml setting exists (and a value shown for it is allowed), a path exists (or is git-ignored, or is a place
of the project's layout), a `faceops.module.name` is defined, a FACEOPS_ variable is read somewhere, a route is
served, and a link leads to a page and a heading that exist. Three pages hold tables that must equal the code:
params.md (every setting and its default), privacy.md (the inventory of person data) and serving.md (each
route and the key it needs).

README's "Your own faces" commands also run as written in a new project (slow). Three substitutions, each for
something this machine lacks: a folder of photos for the webcam (`--source`, which README names as the
alternative), a slice of LFW for ~/Pictures/people, and an LFW photo for group-photo.jpg. `faceops serve` is
left out there: tests/e2e/test_serve.py runs it over HTTP.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
import shlex
from pathlib import Path

import pytest
import yaml
from helpers import REPO, committed_params
from support.readme import readme_block

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
PAGE_IDS = [str(page.relative_to(REPO)) for page in PAGES]
FENCE = re.compile(r"^ *```(\w*)\n(.*?)^ *```", re.S | re.M)  # in a list item too, indented
TEMPLATE = ("…", "|", "[", "]", "...", "<")  # a command written as a pattern, not as one to type
# Files of the code that a page may name (variables, place names), read to check the pages against them.
CODE = ("faceops", "stages", "bench", "docker", "deploy", "jobs", "Makefile", "Jenkinsfile", "dvc.yaml")
TOOL_OWNED = (".git", ".dvc", "dvc_plots")  # git's and DVC's own folders: their layout is theirs


def page_text(page: Path) -> str:
    return page.read_text()


def prose(text: str) -> str:
    """The page without its fenced blocks."""
    return FENCE.sub("", text)


def spans(text: str) -> list[str]:
    """The inline code spans outside fenced blocks, a span that wraps joined into one line."""
    return [re.sub(r"\s+", " ", span).strip() for span in re.findall(r"`([^`]+)`", prose(text))]


def block_commands(text: str, languages: tuple[str, ...] = ("bash", "sh")) -> list[str]:
    """The commands of the page's shell blocks: continuation lines joined, comments dropped, `a && b` split."""
    commands = []
    for language, body in FENCE.findall(text):
        if language not in languages:
            continue
        for line in body.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line and not line.startswith("#"):
                commands += [part.strip() for part in line.split(" && ")]
    return commands


def without_assignments(command: str) -> str:
    """`NAME=value command …` as `command …`."""
    return re.sub(r"^(?:[A-Z_][A-Z0-9_]*=\S+\s+)+", "", command)


def commands_on(page: Path) -> list[str]:
    """Every command the page shows: its shell blocks' lines, and its inline spans."""
    text = page_text(page)
    return [without_assignments(command) for command in block_commands(text) + spans(text)]


def code_corpus() -> str:
    parts = []
    for name in CODE:
        path = REPO / name
        files = [path] if path.is_file() else [p for p in sorted(path.rglob("*")) if p.is_file()]
        for file in files:
            if "__pycache__" not in file.parts and file.suffix not in (".pyc", ".png", ".jpg"):
                parts.append(file.read_text(errors="replace"))
    parts += [(REPO / "tests" / name).read_text() for name in ("helpers.py", "conftest.py")]
    return "\n".join(parts)


# ---- README: the quick start ----


def test_readme_starts_with_make_demo_then_make_test():
    """The newcomer's two commands come first; CI runs the second, as README says."""
    assert readme_block("# faceops") == ["make demo", "make test"]
    assert re.search(r"^make test$", (REPO / ".ci/run").read_text(), re.M)


def test_readme_links_every_docs_page():
    links = set(re.findall(r"\]\((docs/[\w.-]+\.md)", (REPO / "README.md").read_text()))
    pages = {str(page.relative_to(REPO)) for page in PAGES[1:]}
    assert pages and pages <= links, f"README does not link {sorted(pages - links)}"


# ---- every page: what it names exists ----


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(heading) for heading in re.findall(r"^#+ (.+)$", prose(page_text(page)), re.M)}


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_links_lead_to_pages_and_headings(page):
    for target in re.findall(r"\]\(([^)\s]+)\)", prose(page_text(page))):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        file, _, anchor = target.partition("#")
        linked = (page.parent / file).resolve() if file else page
        assert linked.exists(), f"{page.name}: link to {target}: no such file"
        if anchor:
            assert anchor in anchors(linked), f"{page.name}: link to {target}: no such heading"


def faceops_parser():
    from faceops.cli.main import build_parser

    return build_parser()


def options_of(parser, command: str) -> set[str]:
    sub = parser._subparsers._group_actions[0].choices[command]  # argparse keeps them only here
    return {option for action in sub._actions for option in action.option_strings}


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_faceops_commands_parse(page, capsys):
    parser = faceops_parser()
    commands = parser._subparsers._group_actions[0].choices
    for command in commands_on(page):
        if not command.startswith("faceops "):
            continue
        words = command.split()[1:]
        assert words[0] in commands, f"{page.name}: `{command}`: no command {words[0]}"
        if len(words) == 1:
            continue  # the command named, not run
        if any(mark in command for mark in TEMPLATE):
            for piece in re.split(r"[\s|\[\]]+", " ".join(words[1:])):
                option = piece.split("=")[0]
                if option.startswith("--"):
                    assert option in options_of(parser, words[0]), f"{page.name}: `{command}`: no option {option}"
            continue
        try:
            parser.parse_args(shlex.split(command)[1:])
        except SystemExit:
            pytest.fail(f"{page.name}: `{command}` does not parse: {capsys.readouterr().err}")


def makefile_names() -> tuple[set[str], set[str]]:
    text = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([\w.-]+):(?!=)", text, re.M))
    variables = set(re.findall(r"^(\w+) *[?:]?=", text, re.M))
    return targets, variables


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_make_targets_and_variables_exist(page):
    targets, variables = makefile_names()
    for command in commands_on(page):
        if command.startswith("make "):
            for word in command.split()[1:]:
                name, equals, _ = word.partition("=")
                if "*" in name:
                    continue  # a pattern: `make ci-*`
                assert name in (variables if equals else targets), f"{page.name}: `{command}`: no {name} in Makefile"
    for span in spans(page_text(page)):
        if re.fullmatch(r"ci-[a-z]+", span):
            assert span in targets, f"{page.name}: `{span}`: no such make target"


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_python_scripts_exist_and_take_the_options_shown(page):
    for command in commands_on(page):
        found = re.match(r"python3? (\S+\.py)\b(.*)", command)
        if not found:
            continue
        script, rest = REPO / found.group(1), found.group(2)
        assert script.is_file(), f"{page.name}: `{command}`: no {found.group(1)}"
        source = script.read_text()
        for option in re.findall(r"(--[\w-]+)", rest):
            assert f'"{option}"' in source, f"{page.name}: `{command}`: {found.group(1)} takes no {option}"


def setting_fields() -> dict[str, object]:
    """Every params.yaml setting as `section.key` (and `section.sub.key`), with its default."""
    from faceops.core.params import Params

    found = {}

    def walk(cls, prefix: str) -> None:
        for field in dataclasses.fields(cls):
            default = field.default_factory() if field.default is dataclasses.MISSING else field.default
            if dataclasses.is_dataclass(default):
                found[prefix + field.name] = default
                walk(type(default), f"{prefix}{field.name}.")
            else:
                found[prefix + field.name] = default

    for section in dataclasses.fields(Params):
        found[section.name] = None
        walk(section.default_factory, f"{section.name}.")
    return found


def check_setting(key: str, value: str | None, where: str) -> None:
    from faceops.core.params import Tweak, check_tweak

    assert key in setting_fields(), f"{where}: {key} is not a params.yaml setting"
    if value is not None:
        check_tweak(committed_params(), Tweak("doc", {key: yaml.safe_load(value)}), where)


SECTIONS = "base|faces|validate|split|train|promote|retrain|report"


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_settings_named_exist(page):
    text = page_text(page)
    for span in spans(text):
        found = re.fullmatch(rf"((?:{SECTIONS})(?:\.[a-z_]+)+)(?:(?:: |=)(.+))?", span)
        if found:
            check_setting(found.group(1), found.group(2), f"{page.name}: `{span}`")
    for command in commands_on(page):
        for key, value in re.findall(r"-S (\w+\.[\w.]+)=(\S+)", command):
            check_setting(key, value, f"{page.name}: `{command}`")


def gitignored(path: str) -> bool:
    """Whether the repository's .gitignore keeps `path` (or a folder above it) out of git."""
    for line in (REPO / ".gitignore").read_text().splitlines():
        pattern = line.strip().rstrip("/")
        if not pattern or pattern.startswith("#"):
            continue
        if pattern.startswith("/"):
            if path == pattern[1:] or path.startswith(pattern[1:] + "/"):
                return True
        elif any(fnmatch.fnmatch(part, pattern) for part in path.split("/")):
            return True
    return False


def layout_place(path: str, code: str) -> bool:
    """Whether `path` is one of the layout's places, a folder of them or inside one, or is named by the code (a
    place the layout does not hold, such as receipts/). Up to a placeholder (`NAME`, `<person>`, `*`,
    `{csv,png}`), any place that begins so will do."""
    from faceops.core.layout import LAYOUT

    prefix, *placeholder = re.split(r"[<{*…\[]|[A-Z]{2,}", path.rstrip("/"))
    for place in LAYOUT.paths().values():
        if (
            place == prefix
            or prefix.startswith(place + "/")
            or place.startswith(prefix if placeholder else prefix + "/")
        ):
            return True
    return "/" in prefix and prefix in code


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_paths_named_exist(page):
    """Repository files exist; a project's own places (data, models, reports, …) are the layout's."""
    from faceops.core.layout import LAYOUT

    code = code_corpus()
    project_roots = {place.split("/")[0] for place in LAYOUT.paths().values()} | {"receipts"}
    repo_roots = {entry.name for entry in REPO.iterdir()}
    for span in spans(page_text(page)):
        path = span.rstrip("/")
        if " " in path or ("/" not in path and path not in repo_roots):
            continue
        root = path.split("/")[0]
        if root in TOOL_OWNED or root not in repo_roots | project_roots:
            continue
        path, _, test = path.partition("::")
        if test:
            assert re.search(rf"^def {test}\b", (REPO / path).read_text(), re.M), f"{page.name}: `{span}`: no test"
        plain = re.sub(r"[*…]+$", "", path).rstrip("/.")
        if (REPO / plain).exists() or list(REPO.glob(path)):
            continue
        if root in project_roots:
            assert layout_place(path, code), f"{page.name}: `{span}` is no place of faceops/core/layout.py"
        else:
            assert gitignored(plain), f"{page.name}: `{span}` does not exist"


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_modules_and_names_exist(page):
    for span in spans(page_text(page)):
        if not re.fullmatch(r"faceops(\.\w+)+", span):
            continue
        parts = span.split(".")
        for cut in range(len(parts), 0, -1):
            module = REPO.joinpath(*parts[:cut])
            file = module.with_suffix(".py") if module.with_suffix(".py").is_file() else module / "__init__.py"
            if file.is_file():
                break
        rest = parts[cut:]
        assert len(rest) <= 1, f"{page.name}: `{span}`: no module {'.'.join(parts[: cut + 1])}"
        if rest:
            pattern = rf"^(?:def|class) {rest[0]}\b|^{rest[0]}\s*[:=]"
            assert re.search(pattern, file.read_text(), re.M), f"{page.name}: `{span}`: {rest[0]} not in {file.name}"


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_environment_variables_are_read(page):
    code = code_corpus()
    for name in sorted(set(re.findall(r"\bFACEOPS_[A-Z0-9_]*[A-Z0-9]", page_text(page)))):
        assert name in code, f"{page.name}: {name} is read nowhere"


def routes() -> set[tuple[str, str]]:
    """The service's routes as (method, path), from the route decorators of every module of the service."""
    found = set()
    for module in (REPO / "faceops/service").rglob("*.py"):
        decorators = re.findall(r'@\w+\.(get|post|put|patch|delete)\("([^"]+)"', module.read_text())
        found.update((method.upper(), path) for method, path in decorators)
    return found


def route_of(method: str, path: str) -> tuple[str, str] | None:
    """The route a `METHOD /path` on a page names (NAME: a path parameter); GET routes answer HEAD too."""
    from faceops.service.access import DOCS_PATHS

    for route in sorted(routes() | {("GET", docs) for docs in DOCS_PATHS}):
        pattern = "/".join("[^/]+" if part.startswith("{") else re.escape(part) for part in route[1].split("/"))
        if route[0] == ("GET" if method == "HEAD" else method) and re.fullmatch(pattern, path):
            return route
    return None


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_routes_named_are_served(page):
    for span in spans(page_text(page)):
        found = re.match(r"(GET|POST|HEAD|PUT|DELETE|PATCH) (/[^\s?]*)", span)
        if found:
            assert route_of(*found.groups()), f"{page.name}: `{span}`: the service has no such route"


# ---- pages whose tables equal the code ----


def table_rows(text: str, header: str) -> list[list[str]]:
    """The cells of the rows of the table whose header row starts with `header`."""
    lines = text[text.index(header) :].splitlines()[2:]
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def test_params_page_lists_every_setting_with_its_default():
    rows = table_rows((REPO / "docs/params.md").read_text(), "| setting | default |")
    listed = {row[0].strip("`"): row[1] for row in rows}
    settings = {key: value for key, value in setting_fields().items() if "." in key}
    sections = {key for key, value in settings.items() if dataclasses.is_dataclass(value)}
    assert set(listed) == set(settings) - sections
    for key, cell in listed.items():
        if cell.startswith("`"):
            default = settings[key]
            expected = list(default) if isinstance(default, tuple) else default
            assert yaml.safe_load(cell.strip("`")) == expected, f"params.md: {key} default {cell}, code {default!r}"
    schedule = [row[0].strip("`") for row in table_rows((REPO / "docs/params.md").read_text(), "| name | sets |")]
    assert schedule == [entry["name"] for entry in settings["retrain.schedule"]]


def test_privacy_page_lists_the_inventory():
    from faceops.people.inventory import places_for

    rows = table_rows((REPO / "docs/privacy.md").read_text(), "| place | where")
    assert [(row[0], row[2]) for row in rows] == [(place.name, place.handling) for place in places_for("NAME")]


def test_serving_page_lists_every_route_and_its_key():
    from faceops.service import access

    rows = table_rows((REPO / "docs/serving.md").read_text(), "| route | key |")
    listed = {}
    for row in rows:
        method, path = row[0].strip("`").split(" ", 1)
        listed[route_of(method, path)] = row[1]
    assert None not in listed, "a route in the table that the service does not have"
    assert routes() <= set(listed), f"routes missing from serving.md: {sorted(routes() - set(listed))}"
    for (_, path), key in listed.items():
        assert key == (access.required_role(path) or "none"), path


# ---- README's own commands, run as written ----
