"""The test matrix: one session per backend, and the sessions around them.

``python3 -m nox`` runs every default session; ``python3 -m nox -s tests-jax`` one;
``python3 -m nox -s quick`` a subset for a contributor's loop.
Each test session sets ``PORTABLE_LAYERS_BACKENDS``, which the ``xp`` fixture in
``tests/conftest.py`` reads, so the backend-dependent tests run once per backend.

What makes the whole matrix fast (times in docs/guide/reliability.md):

- environments are built by uv where it is installed (``pip install 'nox[uv]'``; nox falls
  back to ``venv`` and pip otherwise), from uv's cache: seconds, not minutes, per session;
- the four backend sessions install the same things, so building each one costs little;
- the tests that take no ``xp`` fixture do not depend on the backend: they run in
  ``tests-numpy`` only, and the other backend sessions pass ``--xp-only``
  (``tests/conftest.py``); ``tests-nojax`` runs everything on NumPy, since its environment
  differs;
- ``python3 -m nox --parallel 2`` (what ``.ci/run`` and the README run) runs the sessions
  two at a time, each one's output printed as one block when it ends; without
  ``--parallel`` they run one by one, their output live (``nox -s quick``, one session);
- each session's libraries get half the cores for their thread pools (``_share_cores``):
  two sessions side by side would otherwise each start a thread per core, and wait.
- the sessions share one JAX compilation cache (``_share_compilations``): a program one
  of them compiled, the others read back.

PyTorch: the sessions that need it install ``$PORTABLE_LAYERS_TORCH`` (default
``torch==2.13.0``).  Where pip is configured to find wheels in local folders
(``PIP_FIND_LINKS`` or pip's config files, as on a machine with a local CPU build), the
same folders are given to uv.  On a machine where a plain ``pip install torch`` would pull a CUDA
build, point it at PyTorch's CPU-only wheel index with
``PORTABLE_LAYERS_TORCH_INDEX=https://download.pytorch.org/whl/cpu`` (passed as
``--extra-index-url``; uv then takes torch from that index first).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import nox

nox.options.default_venv_backend = "uv|venv"
# every session may run beside another (under --parallel N): each has its own environment,
# and the one place they all write, JAX's compilation cache, takes concurrent writers (an
# entry read while another process writes it is compiled again: pyproject's filterwarnings)
nox.options.allow_parallel = True
# the order the sessions start in under --parallel: the longest first, so the short ones
# fill the gaps at the end
nox.options.sessions = [
    "tests-jax",
    "tests-numpy",
    "tests-nojax",
    "tests-torch",
    "tests-array_api_strict",
    "notebook",
    "tests-dask",
    "tests-foreign",
    "docs",
    "bench-smoke",
    "typecheck",
    "lint",
]

# Extras every test session needs besides its backend: pytest, hypothesis and
# array_api_strict (the tests mix it with other libraries), matplotlib, tqdm, scikit-learn.
COMMON = "test,plot,train,digits"
TORCH = os.environ.get("PORTABLE_LAYERS_TORCH", "torch==2.13.0")
TORCH_INDEX = os.environ.get("PORTABLE_LAYERS_TORCH_INDEX")


def _install_torch(session: nox.Session) -> None:
    args = [TORCH]
    if TORCH_INDEX:
        args += ["--extra-index-url", TORCH_INDEX]
    if session.venv_backend == "uv":
        # uv reads no pip configuration: hand it pip's local wheel folders
        for folder in _pip_find_links():
            args += ["--find-links", folder]
    session.install(*args)


def _pip_find_links() -> list[str]:
    """pip's find-links folders: ``PIP_FIND_LINKS``, else pip's configuration files."""
    if os.environ.get("PIP_FIND_LINKS"):
        return os.environ["PIP_FIND_LINKS"].split()
    done = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.find-links"],
                          capture_output=True, text=True, check=False)
    return [f for f in done.stdout.split() if os.path.isdir(f)] if done.returncode == 0 else []


#: what building the package reads (pyproject.toml names README.md and LICENSE)
PROJECT_FILES = ("pyproject.toml", "README.md", "LICENSE")


def _project(session: nox.Session, extras: str = "") -> str:
    """The package with ``extras``, as a path to install: a copy of the sources in the
    session's environment folder, since setuptools writes build/ and *.egg-info where it builds
    and two sessions running side by side must not build in one tree."""
    src = os.path.join(session.virtualenv.location, "portable_layers-src")
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree("portable_layers", os.path.join(src, "portable_layers"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in PROJECT_FILES:
        shutil.copy(name, src)
    return f"{src}[{extras}]" if extras else src


#: the thread pools each library sizes for the whole machine
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _share_cores(session: nox.Session) -> None:
    """Size every library's thread pool for half the cores (one on this 2-core machine).

    ``--parallel 2`` runs two sessions at once, and PyTorch's OpenMP, NumPy's BLAS and
    XLA's Eigen each start a thread per core; oversubscribed, their threads wait on each
    other. Measured on 2 cores, beside one busy core: tests/test_vit.py and
    tests/test_cs231n_models.py on PyTorch took 206 s, against 63 s alone, and 76 s with
    one thread beside the busy core. A value set in the environment is kept. The ``bench``
    session keeps the libraries' defaults (its figures compare stacks as users run them)."""
    n = str(max(1, (os.cpu_count() or 2) // 2))
    for name in THREAD_VARIABLES:
        session.env[name] = os.environ.get(name, n)
    if "XLA_FLAGS" not in os.environ:
        eigen = "false" if n == "1" else "true"
        session.env["XLA_FLAGS"] = f"--xla_cpu_multi_thread_eigen={eigen}"
    _share_compilations(session)


#: JAX's persistent compilation cache, one for the sessions of the matrix (see below)
JAX_CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".nox", "jax-cache")


def _share_compilations(session: nox.Session) -> None:
    """One JAX compilation cache for every session and the processes they start.

    JAX compiles each operation once per shape and dtype, eagerly too, and a process keeps
    what it compiled to itself: the three backend sessions whose oracle is JAX compile the
    same programs, and so do the subprocesses of the commands' tests. With the cache on
    disk, a program compiled once is read back (the 526 programs of the layer table and
    the property tests on array_api_strict: 32 s compiled, 3 s read back, measured here).
    A key holds the program, the XLA flags, the devices and JAX's version, so what is read
    back is what would be compiled. Every compilation is kept (no minimum time or size;
    one matrix run wrote 48 MB). A value set in the environment is kept."""
    defaults = {"JAX_COMPILATION_CACHE_DIR": JAX_CACHE,
                "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
                "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}
    for name, value in defaults.items():
        session.env[name] = os.environ.get(name, value)


def _run_tests(session: nox.Session, backends: str, *pytest_args: str) -> None:
    # (the check table, every case through both oracles in both dtypes, is
    # tests/test_layer_table.py's to run on the session's backend, and tests/test_cli.py runs
    # the ``check`` command itself there: running the command over the whole table as well
    # did the same checks twice)
    env = {"PORTABLE_LAYERS_BACKENDS": backends}
    session.run("python", "-m", "pytest", *pytest_args, *session.posargs, env=env)


def _backend_env(session: nox.Session) -> None:
    """What the four backend sessions install: one set, so each costs uv seconds."""
    _share_cores(session)
    _install_torch(session)
    session.install(_project(session, f"{COMMON},jax"))


@nox.session(name="tests-numpy")
def tests_numpy(session: nox.Session) -> None:
    """NumPy, plus a read-only NumPy that catches any write into an input; and the tests
    that take no ``xp`` fixture (the backend-independent ones), here only: among them JAX
    data parallelism over 4 host devices (tests/test_multidevice.py, in subprocesses)."""
    _backend_env(session)
    # fail, never skip, without the libraries the backend-independent tests compare with
    session.run("python", "-c", "import jax, torch")
    _run_tests(session, "numpy,numpy_readonly")


@nox.session(name="tests-jax")
def tests_jax(session: nox.Session) -> None:
    """JAX with 64-bit floats enabled."""
    _backend_env(session)
    session.env["JAX_ENABLE_X64"] = "1"
    _run_tests(session, "jax", "--xp-only")


@nox.session(name="tests-array_api_strict")
def tests_array_api_strict(session: nox.Session) -> None:
    """array_api_strict: the standard and nothing else."""
    _backend_env(session)
    _run_tests(session, "array_api_strict", "--xp-only")


@nox.session(name="tests-torch")
def tests_torch(session: nox.Session) -> None:
    """PyTorch (a CPU build; see the module docstring)."""
    _backend_env(session)
    _run_tests(session, "torch", "--xp-only")


@nox.session(name="tests-nojax")
def tests_nojax(session: nox.Session) -> None:
    """Without JAX: the library and its finite-difference checks work on their own (every
    test, since this environment differs from the backend sessions', on NumPy: what JAX's
    absence changes, the oracles chosen and the imports, does not depend on the backend,
    and each backend's arithmetic is the backend sessions' to prove; the ``check`` command
    then walks the case table on array_api_strict, through the one oracle left)."""
    _share_cores(session)
    session.install(_project(session, f"{COMMON}"))
    session.run("python", "-c", "import importlib.util, sys; "
                "sys.exit('jax must not be installed here' if importlib.util.find_spec('jax') "
                "else 0)")
    # (the wheel does not depend on what is installed: tests-numpy builds it; the tests
    # marked slow, long training runs to an accuracy, run in the backend sessions; the
    # population of checks uses the numerical oracle alone, on NumPy: tests-numpy runs
    # the same draws through the same code, which JAX's absence does not touch)
    _run_tests(session, "numpy", "--deselect", "tests/test_wheel.py",
               "--deselect", "tests/test_population.py", "-m", "not slow")
    # (on NumPy, tests/test_layer_table.py has just walked the table)
    session.run("python", "-m", "portable_layers", "check", "--backend", "array_api_strict")


@nox.session(name="tests-foreign")
def tests_foreign(session: nox.Session) -> None:
    """Libraries no other session names: marray's masked arrays, array_api_strict at
    revision 2023.12 and without data-dependent shapes or boolean indexing, and
    tests/opaque_arrays.py's arrays that export no DLPack (one library eager, one lazy)."""
    _share_cores(session)
    session.install(_project(session, f"{COMMON},jax"))
    env = {"PORTABLE_LAYERS_BACKENDS": "marray.numpy,array_api_strict_2023,"
           "array_api_strict_nodds,opaque_arrays.eager,opaque_arrays.lazy"}
    session.run("python", "-m", "pytest", "tests/test_foreign.py", "tests/test_compat.py",
                *session.posargs, env=env)
    session.run("python", "-m", "portable_layers", "check", "--backend", "marray.numpy")
    session.run("python", "-m", "portable_layers", "check", "--backend", "opaque_arrays.lazy",
                "--fast", env={"PYTHONPATH": "tests"})


@nox.session(name="tests-dask")
def tests_dask(session: nox.Session) -> None:
    """Dask layers, full-batch gradients on a LocalCluster, streamed Solver data, and the
    README's and the guide's Dask examples."""
    _share_cores(session)
    session.install(_project(session, f"{COMMON},jax,dask"))
    # fail, never skip, without the libraries this session is about
    session.run("python", "-c", "import dask.array, distributed, jax")
    env = {"PORTABLE_LAYERS_BACKENDS": "numpy,jax"}
    session.run("python", "-m", "pytest", "tests/test_dask.py", *session.posargs, env=env)
    # the ```python blocks that import Dask (the other sessions have no Dask and skip
    # them); here a block that would skip fails instead
    session.run("python", "-m", "pytest", "tests/test_readme.py", "-m", "dask",
                *session.posargs, env={**env, "PORTABLE_LAYERS_BLOCKS_NO_SKIP": "1"})
    # (the check table on NumPy and JAX, the backends the Dask blocks compute on, is
    # tests/test_layer_table.py's in tests-numpy and tests-jax: the same backends and JAX)


# (room for more test sessions here)


#: test files the quick session leaves to the matrix: whole models and their gradient
#: checks (the population of checks took 3 of quick's 7 minutes), subprocess suites (the
#: wheel's build, 4-device JAX, the examples)
QUICK_SKIP = ("test_vit.py", "test_convnet.py", "test_cs231n_models.py", "test_models.py",
              "test_population.py", "test_multidevice.py", "test_wheel.py", "test_examples.py",
              "test_training.py")


@nox.session
def quick(session: nox.Session) -> None:
    """A contributor's loop: ruff, then the tests on NumPy alone with
    hypothesis's ``dev`` profile (5 examples a property), without the tests marked
    ``slow``, the README's blocks, the whole-model gradient checks and the subprocess
    suites (QUICK_SKIP).  Not a default session: the matrix runs all of it."""
    _share_cores(session)
    session.install(_project(session, f"{COMMON},jax"), "ruff>=0.6")
    session.run("ruff", "check", "portable_layers", "tests", "noxfile.py")
    skip = [f"--ignore=tests/{name}" for name in QUICK_SKIP]
    _run_tests(session, "numpy", "-q", "-x", "--hypothesis-profile=dev",
               "-m", "not slow", *skip,
               "--deselect", "tests/test_readme.py::test_readme_block_runs_as_written")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "portable_layers", "tests", "benchmarks", "examples",
                "noxfile.py", "docs/hooks.py", "docs/griffe_roles.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy over the package."""
    session.install("mypy>=1.10", _project(session))
    session.run("mypy")


def _bench_env(session: nox.Session) -> None:
    _install_torch(session)
    session.install(_project(session, "bench"))


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: every benchmarks/bench_*.py, three runs of the suite (ratios measured in
    the same run), results in benchmarks/results/run-K/, then the README's tables rendered
    from them.  Arguments go to benchmarks/run_suite.py: ``-- --runs 5``, ``-- --dask-full``."""
    _bench_env(session)
    session.run("python", "benchmarks/run_suite.py", *session.posargs)


@nox.session(name="bench-smoke")
def bench_smoke(session: nox.Session) -> None:
    """Every benchmark at tiny sizes, one repeat, once, and the renderer on their JSON (into
    a temporary copy of the README): the benchmarks cannot rot.  Figures mean nothing."""
    _share_cores(session)
    _bench_env(session)
    tmp = session.create_tmp()
    session.run("python", "benchmarks/run_suite.py", "--smoke", "--runs", "1",
                "--results", os.path.join(tmp, "bench-smoke"),
                "--readme-output", os.path.join(tmp, "README.rendered.md"))


NOTEBOOK = "examples/understanding_layers.ipynb"


@nox.session
def notebook(session: nox.Session) -> None:
    """The notebook, top to bottom on a fresh kernel, once per backend (numpy, jax, torch),
    with the command docs/guide/seed-notebook.md gives (``jupyter nbconvert --execute``),
    in an environment of the ``notebook`` extra plus the two backends' libraries."""
    _share_cores(session)
    _install_torch(session)
    session.install(_project(session, "notebook,jax"))
    out = session.create_tmp()
    for backend in ("numpy", "jax", "torch"):
        session.run("jupyter", "nbconvert", "--to", "notebook", "--execute", NOTEBOOK,
                    "--output-dir", out, "--output", f"executed-{backend}",
                    env={"PORTABLE_LAYERS_BACKEND": backend})


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site: ``mkdocs build --strict`` (a warning fails it) into site/.
    The notebook page is executed on NumPy at build time (the ``notebook`` extra, and JAX for
    its autodiff oracle); docs/hooks.py fails the build on a raw reStructuredText table."""
    _share_cores(session)
    session.install(_project(session, "docs,notebook,jax"))
    session.run("mkdocs", "build", "--strict", "--site-dir", "site",
                env={"PORTABLE_LAYERS_BACKEND": "numpy", "NO_MKDOCS_2_WARNING": "1"})
