"""The docs match the code and each other: the engine's docstring names every module it has; the
README stays a short page for users whose links all resolve inside the repository; the figures
moved to docs/ keep their dates and loads; the hosting settings table names real settings."""

import re
from pathlib import Path

import engine

ENGINE = Path(engine.__file__).parent
ROOT = ENGINE.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def test_every_package_docstring_describes_each_of_its_modules():
    """engine/__init__ names its modules and packages; each package's __init__ names its own."""
    missing = []
    for init in [ENGINE / "__init__.py", *sorted(ENGINE.glob("*/__init__.py"))]:
        folder, doc = init.parent, init.read_text().split('"""')[1]
        names = [p.stem for p in folder.glob("*.py") if p.stem != "__init__"]
        names += [p.name for p in folder.iterdir() if (p / "__init__.py").is_file()]
        missing += [f"{folder.name}/{n}" for n in names if f"``{n}``" not in doc]
    assert not missing, f"not described in their package's __init__: {missing}"


def _links(text):
    """Link and image targets of a Markdown text, HTML comments left out."""
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    return re.findall(r"\]\(([^)\s]+)\)", text)


def _anchors(text):
    """GitHub's anchors for the headings of a Markdown text."""
    headings = re.findall(r"^#+ (.+)$", text, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_the_readme_is_a_short_page_for_users():
    assert len(README.read_text().splitlines()) <= 200


def test_the_readme_sets_up_with_make_run_and_make_test_only():
    text = README.read_text()
    start = text.index("## The two commands")
    section = text[start : text.index("\n## ", start + 1)]
    assert "make run" in section and "make test" in section
    for other in ("pip install", "python -m venv", "apt-get", "make setup"):
        assert other not in text, other


def test_every_link_resolves_inside_the_repository():
    broken = []
    for doc in [README, *sorted(DOCS.glob("*.md"))]:
        for target in _links(doc.read_text()):
            if "://" in target or target.startswith("mailto:"):
                if doc == README:  # the README links nothing outside the repository
                    broken.append(f"{doc.name}: {target}")
                continue  # a doc may cite a library's own page
            path, _, anchor = target.partition("#")
            file = (doc.parent / path).resolve() if path else doc
            if not file.is_file() or ROOT not in file.parents:
                broken.append(f"{doc.name}: {target}")
            elif anchor and file.suffix == ".md" and anchor not in _anchors(file.read_text()):
                broken.append(f"{doc.name}: {target} (no such heading)")
            elif file.suffix == ".png" and file.stat().st_size > 300_000:
                broken.append(f"{doc.name}: {target} (over 300 KB)")
    assert not broken, broken


def test_the_readme_links_every_document():
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in _links(README.read_text())}
    unlinked = [p.name for p in sorted(DOCS.glob("*.md")) if p.resolve() not in linked]
    assert not unlinked, f"the README does not link {unlinked}"


def test_the_readme_says_the_greek_head_is_a_cosine_classifier():
    text = README.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| **Greek letters**"))
    assert "cosine classifier with calibrated confidence" in row and "docs/fewshot.md" in row


def test_measured_figures_keep_their_dates_and_loads():
    """Benchmarks, the few-shot study and the reliability table moved out of the README with
    when and under which load they were measured."""
    for name in ("benchmarks.md", "fewshot.md", "reliability.md", "real_inputs.md"):
        text = (DOCS / name).read_text()
        assert re.search(r"20\d\d-\d\d-\d\d", text), f"{name} gives no date"
        assert "load" in text, f"{name} gives no load"


def test_the_settings_table_is_generated_from_the_code():
    from engine import settings

    text = (DOCS / "hosting.md").read_text()
    block = text[text.index(settings.BEGIN) : text.index(settings.END) + len(settings.END)]
    assert block == settings.markdown(), "regenerate it with engine.settings.markdown()"
    named = set(re.findall(r"\b(?:ENGINE|WEBRTC)_[A-Z_]*[A-Z]\b", text))
    assert named <= set(settings.VARIABLES), named - set(settings.VARIABLES)


def test_the_architecture_layout_lists_the_engine_folders_as_they_are():
    text = (DOCS / "architecture.md").read_text()
    block = text.split("<!-- engine-layout -->\n```\n", 1)[1].split("```", 1)[0]
    listed = set()
    for line in block.splitlines():
        first, *rest = line.split()
        if first.endswith("/"):  # a package: the modules that follow it
            listed |= {f"{first}{m}.py" for m in rest}
        else:
            listed |= {w for w in [first, *rest] if w.endswith(".py")}
    listed = {w if w.startswith("engine/") else f"engine/{w}" for w in listed}
    actual = {str(p.relative_to(ROOT)) for p in ENGINE.rglob("*.py") if p.name != "__init__.py"} | {
        "engine/__init__.py"
    }
    assert listed == actual, (sorted(listed - actual), sorted(actual - listed))
