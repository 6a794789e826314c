"""README.md's code blocks, run in order as a reader would run them, so a README line that stops
working fails the suite.

Every fenced block must say its language: ``python`` blocks run in this process, ``sh`` blocks in
bash (``set -euo pipefail``), and a ``text`` block is the output the shell block before it prints.
All blocks share one working folder (the main job's ``runs/lenet5`` feeds the ONNX examples), which
holds links to the checkout's build files (CMakeLists.txt, cpp/, pyproject.toml, tests/) but not
pycnn/, so ``python -m pycnn`` there imports the pycnn under test.

The set-up commands build and install pycnn into a fresh venv (minutes; CI's first command does
exactly that: .ci/run). Here the tools those lines call are stand-ins on the PATH that check what
can be checked in seconds and run the rest for real:

- ``python3 -m venv DIR`` makes DIR/bin with these stand-ins and an ``activate`` script;
- ``pip install ".[extras]"`` / ``"pycnn[extras]"`` checks that each extra exists in pyproject.toml
  and that every package it lists is installed here (the test environment has them all);
  ``pip install NAME ...`` checks that each NAME is installed or is a command on the PATH;
- ``pycnn`` is ``python -m pycnn``; ``cmake`` is the real cmake (a real configure);
  ``ninja`` is the real ninja with ``-n`` (the build graph, not minutes of compiling);
- ``pytest`` (or ``python -m pytest``) with no test path collects the suite (``--collect-only``:
  it is the run this file is part of; the second time, it reports the first collection); with paths
  it runs them.
"""
import os
import re
import shutil
import stat
import subprocess
import sys

import pytest

from helpers.subprocess_env import subprocess_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
LINKED = ("CMakeLists.txt", "cpp", "pyproject.toml", "tests", "tools", "README.md")
STAND_INS = ("python", "python3", "pip", "pycnn", "pytest", "cmake", "ninja")


def readme_blocks(text):
    """[(line, language, code)] of every fenced block, in order."""
    blocks = []
    for match in re.finditer(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", text, re.S | re.M):
        line = text.count("\n", 0, match.start()) + 1
        blocks.append((line, match.group(1).strip(), match.group(2)))
    return blocks


BLOCKS = readme_blocks(open(README, encoding="utf-8").read())
RUNNABLE = [b for b in BLOCKS if b[1] in ("python", "sh")]


STAND_IN = r'''#!{python}
"""A stand-in for the command named by argv[0]: see tests/test_readme.py's docstring."""
import os, re, shutil, sys

REAL = {python!r}
ROOT = {root!r}
HERE = os.path.dirname(os.path.abspath(__file__))
name, args = os.path.basename(sys.argv[0]), sys.argv[1:]


def real(command):
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                           if os.path.abspath(p) != HERE and not os.path.isfile(os.path.join(p, ".readme-stand-ins")))
    found = shutil.which(command, path=path)
    if found is None:
        sys.exit(f"{{name}}: no {{command}} on the PATH")
    return found


def make_venv(folder):
    bin_dir = os.path.join(folder, "bin")
    os.makedirs(bin_dir, exist_ok=True)
    open(os.path.join(bin_dir, ".readme-stand-ins"), "w").close()
    for command in {stand_ins!r}:
        target = os.path.join(bin_dir, command)
        if not os.path.lexists(target):
            os.symlink(os.path.abspath(__file__), target)
    with open(os.path.join(bin_dir, "activate"), "w") as f:
        f.write(f'export VIRTUAL_ENV="{{os.path.abspath(folder)}}"\nexport PATH="{{bin_dir}}:$PATH"\n')


def extras():
    text = open(os.path.join(ROOT, "pyproject.toml")).read()
    section = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    return {{k: re.findall(r'"([^"]+)"', v) for k, v in re.findall(r"^(\w+)\s*=\s*\[(.*)\]", section, re.M)}}


def installed(requirement):
    from importlib import metadata

    dist = re.split(r"[<>=!~\[; ]", requirement, 1)[0]
    try:
        metadata.version(dist)
        return True
    except metadata.PackageNotFoundError:
        return False


def pip(args):
    if not args or args[0] != "install":
        sys.exit(f"pip stand-in: only 'pip install' is checked, got {{args}}")
    known = extras()
    for spec in [a for a in args[1:] if not a.startswith("-")]:
        match = re.fullmatch(r"(\.|pycnn)\[([\w,]+)\]", spec)
        if match:
            for extra in match.group(2).split(","):
                if extra not in known:
                    sys.exit(f"pip stand-in: pyproject.toml has no extra {{extra!r}} (has {{sorted(known)}})")
                missing = [r for r in known[extra] if not installed(r)]
                if missing:
                    sys.exit(f"pip stand-in: extra {{extra!r}} lists {{missing}}, not installed here")
        elif spec == ".":
            continue
        elif not installed(spec) and shutil.which(spec) is None:
            sys.exit(f"pip stand-in: {{spec!r}} is neither installed here nor a command")


def pytest(args):
    paths = [a for a in args if not a.startswith("-")]
    if paths:
        os.execv(REAL, [REAL, "-m", "pytest", "-p", "no:cacheprovider"] + args)
    # the whole suite: collect it, once (the README runs the same command twice, on the same tree)
    collected = os.path.join(os.path.dirname(os.path.realpath(__file__)), ".collected")
    if not os.path.exists(collected):
        import subprocess
        done = subprocess.run([REAL, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only"] + args)
        if done.returncode:
            sys.exit(done.returncode)
        open(collected, "w").close()
    sys.exit(0)


if name in ("python", "python3"):
    if args[:2] == ["-m", "venv"]:
        make_venv(args[2])
        sys.exit(0)
    if args[:2] == ["-m", "pytest"]:
        pytest(args[2:])
    os.execv(REAL, [REAL] + args)
elif name == "pip":
    pip(args)
elif name == "pycnn":
    os.execv(REAL, [REAL, "-m", "pycnn"] + args)
elif name == "pytest":
    pytest(args)
elif name == "cmake":
    command = real("cmake")
    os.execv(command, [command] + args)
elif name == "ninja":
    command = real("ninja")
    os.execv(command, [command, "-n"] + args)
'''


class Reader:
    """The shared folder, the stand-ins and what the blocks printed, in README order."""

    def __init__(self, folder):
        self.folder = str(folder)
        self.done = 0
        self.outputs = {}
        for name in LINKED:
            os.symlink(os.path.join(ROOT, name), os.path.join(self.folder, name))
        self.bin = os.path.join(self.folder, ".stand-ins")
        os.makedirs(self.bin)
        open(os.path.join(self.bin, ".readme-stand-ins"), "w").close()
        script = os.path.join(self.bin, "stand_in.py")
        with open(script, "w") as f:
            f.write(STAND_IN.format(python=sys.executable, root=ROOT, stand_ins=STAND_INS))
        os.chmod(script, os.stat(script).st_mode | stat.S_IXUSR)
        for command in STAND_INS:
            os.symlink(script, os.path.join(self.bin, command))

    def run_through(self, index, monkeypatch):
        while self.done <= index:
            self._run(RUNNABLE[self.done], monkeypatch)
            self.done += 1

    def _run(self, block, monkeypatch):
        line, language, code = block
        if language == "python":
            monkeypatch.chdir(self.folder)
            exec(compile(code, f"README.md:{line}", "exec"), {"__name__": "__readme__"})
            monkeypatch.undo()
            return
        missing = [tool for tool in ("cmake", "ninja") if f"{tool} " in code and shutil.which(tool) is None]
        if missing:  # the block pip-installs them into its venv; here they must be on the PATH already
            pytest.skip(f"README.md:{line} runs {' and '.join(missing)}, which this machine does not have")
        env = subprocess_env()
        env["PATH"] = self.bin + os.pathsep + env["PATH"]
        env.pop("VIRTUAL_ENV", None)
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=self.folder, env=env,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, (f"README.md:{line} exited {result.returncode}\n--- stdout\n"
                                        f"{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}")
        self.outputs[line] = result


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    return Reader(tmp_path_factory.mktemp("readme"))


def test_every_block_names_a_language_that_runs():
    assert len(RUNNABLE) >= 6
    for line, language, _ in BLOCKS:
        assert language in ("python", "sh", "text"), f"README.md:{line}: a ```{language} block is neither run nor read"


def test_ci_runs_the_readme_test_command():
    """.ci/run's first command is the README's test command, character for character."""
    ci = open(os.path.join(ROOT, ".ci", "run")).read()
    first = next(x for x in ci.splitlines() if x.strip() and not x.startswith(("#", "set ", "cd ", "export ", "rm ")))
    assert any(code.strip() == first.strip() for _, language, code in BLOCKS if language == "sh"), first


@pytest.mark.parametrize("index", range(len(RUNNABLE)), ids=[f"README.md:{b[0]}" for b in RUNNABLE])
def test_block_runs(reader, index, monkeypatch):
    reader.run_through(index, monkeypatch)


def test_main_job_prints_what_the_readme_shows(reader, monkeypatch):
    """The output block after the main command: the same lines, the lr schedule exactly, top-1 in
    the range the README states over seeds."""
    reader.run_through(0, monkeypatch)
    main_line = RUNNABLE[0][0]
    shown_at = next(i for i, b in enumerate(BLOCKS) if b[0] > main_line and b[1] == "text")
    shown = BLOCKS[shown_at][2].strip().splitlines()
    printed = reader.outputs[main_line].stdout.strip().splitlines()
    threads = re.search(r"(\d+) threads$", printed[0]).group(1)
    assert printed[0] == re.sub(r"\d+ threads$", f"{threads} threads", shown[0])
    assert shown[1] == "..."
    epochs = [x for x in printed if x.startswith("epoch ")]
    assert len(epochs) == 10  # not a terminal: no progress bars, one line per epoch
    assert len(printed) == 12, printed
    last_epoch = epochs[-1]
    assert re.sub(r"\d+(\.\d+)?", "#", last_epoch) == re.sub(r"\d+(\.\d+)?", "#", shown[2])
    assert last_epoch.split(", ")[3] == shown[2].split(", ")[3] == "lr 0.0012"
    assert re.sub(r"\d+(\.\d+)?", "#", printed[-1]) == re.sub(r"\d+(\.\d+)?", "#", shown[3])
    top1 = float(re.match(r"test top-1 ([\d.]+)%", printed[-1]).group(1))
    stated = re.search(r"(\d+\.\d)-(\d+\.\d)%\s+top-1\s+over\s+seeds", open(README).read())
    low, high = float(stated.group(1)), float(stated.group(2))
    assert low <= top1 <= high, printed[-1]
