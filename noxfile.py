"""The test matrix: one session per backend, each in its own environment.

``python3 -m nox`` runs every default session; ``python3 -m nox -s tests-jax`` one.
Each session sets ``PORTABLE_LAYERS_BACKENDS``, which the ``xp`` fixture in
``tests/conftest.py`` reads, so the whole suite runs once per backend.

PyTorch: the torch session installs ``$PORTABLE_LAYERS_TORCH`` (default
``torch==2.13.0``, a CPU build where pip finds one locally).  On a machine where
plain ``pip install torch`` would pull a CUDA build, point pip at PyTorch's CPU-only
wheel index with ``PORTABLE_LAYERS_TORCH_INDEX=<url>`` (passed as
``--extra-index-url``).
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = [
    "tests-numpy",
    "tests-jax",
    "tests-array_api_strict",
    "tests-torch",
    "tests-nojax",
    "tests-dask",
    "tests-foreign",
    "lint",
    "typecheck",
    "bench-smoke",
    "notebook",
    "docs",
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
    session.install(*args)


def _run_tests(session: nox.Session, backends: str, check_backend: str | None) -> None:
    env = {"PORTABLE_LAYERS_BACKENDS": backends}
    session.run("python", "-m", "pytest", *session.posargs, env=env)
    if check_backend:
        session.run("python", "-m", "portable_layers", "check", "--backend", check_backend,
                    "--dtype", "float64", "--dtype", "float32")


@nox.session(name="tests-numpy")
def tests_numpy(session: nox.Session) -> None:
    """NumPy, plus a read-only NumPy that catches any write into an input."""
    session.install(f".[{COMMON},jax]")
    _run_tests(session, "numpy,numpy_readonly", "numpy")


@nox.session(name="tests-jax")
def tests_jax(session: nox.Session) -> None:
    """JAX with 64-bit floats enabled."""
    session.install(f".[{COMMON},jax]")
    session.env["JAX_ENABLE_X64"] = "1"
    _run_tests(session, "jax", "jax")


@nox.session(name="tests-array_api_strict")
def tests_array_api_strict(session: nox.Session) -> None:
    """array_api_strict: the standard and nothing else."""
    session.install(f".[{COMMON},jax]")
    _run_tests(session, "array_api_strict", "array_api_strict")


@nox.session(name="tests-torch")
def tests_torch(session: nox.Session) -> None:
    """PyTorch (a CPU build; see the module docstring)."""
    _install_torch(session)
    session.install(f".[{COMMON},jax]")
    _run_tests(session, "torch", "torch")


@nox.session(name="tests-nojax")
def tests_nojax(session: nox.Session) -> None:
    """Without JAX: the library and its finite-difference checks work on their own."""
    session.install(f".[{COMMON}]")
    session.run("python", "-c", "import importlib.util, sys; "
                "sys.exit('jax must not be installed here' if importlib.util.find_spec('jax') "
                "else 0)")
    _run_tests(session, "numpy,numpy_readonly,array_api_strict", None)
    session.run("python", "-m", "portable_layers", "check", "--backend", "numpy",
                "--backend", "array_api_strict")


@nox.session(name="tests-foreign")
def tests_foreign(session: nox.Session) -> None:
    """Libraries no other session names: marray's masked arrays, array_api_strict at
    revision 2023.12 and without data-dependent shapes or boolean indexing, and
    tests/opaque_arrays.py's arrays that export no DLPack (one library eager, one lazy)."""
    session.install(f".[{COMMON},jax]")
    env = {"PORTABLE_LAYERS_BACKENDS": "marray.numpy,array_api_strict_2023,"
           "array_api_strict_nodds,opaque_arrays.eager,opaque_arrays.lazy"}
    session.run("python", "-m", "pytest", "tests/test_foreign.py", "tests/test_compat.py",
                *session.posargs, env=env)
    session.run("python", "-m", "portable_layers", "check", "--backend", "marray.numpy")
    session.run("python", "-m", "portable_layers", "check", "--backend", "opaque_arrays.lazy",
                "--fast", env={"PYTHONPATH": "tests"})


@nox.session(name="tests-dask")
def tests_dask(session: nox.Session) -> None:
    """Dask layers, full-batch gradients on a LocalCluster, streamed Solver data, and JAX
    data parallelism over 4 host devices (in a subprocess)."""
    session.install(".[test,jax,dask]")
    # fail, never skip, without the libraries this session is about
    session.run("python", "-c", "import dask.array, distributed, jax")
    env = {"PORTABLE_LAYERS_BACKENDS": "numpy,jax"}
    session.run("python", "-m", "pytest", "tests/test_dask.py", "tests/test_multidevice.py",
                *session.posargs, env=env)
    # the check table on the backends the Dask blocks and the devices compute on
    session.run("python", "-m", "portable_layers", "check", "--backend", "numpy", "jax",
                "--dtype", "float64", "--dtype", "float32")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "portable_layers", "tests", "benchmarks", "examples",
                "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy over the package."""
    session.install("mypy>=1.10", ".")
    session.run("mypy")


def _bench_env(session: nox.Session) -> None:
    _install_torch(session)
    session.install(".[bench]")


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
    _bench_env(session)
    tmp = session.create_tmp()
    session.run("python", "benchmarks/run_suite.py", "--smoke", "--runs", "1",
                "--results", os.path.join(tmp, "bench-smoke"),
                "--readme-output", os.path.join(tmp, "README.rendered.md"))


NOTEBOOK = "examples/understanding_layers.ipynb"
_EXECUTE = (
    "import sys, nbformat; from nbclient import NotebookClient; "
    "nb = nbformat.read(sys.argv[1], as_version=4); "
    "NotebookClient(nb, timeout=600, kernel_name='python3').execute()"
)


@nox.session
def notebook(session: nox.Session) -> None:
    """The notebook, top to bottom on a fresh kernel, once per backend (numpy, jax, torch)."""
    _install_torch(session)
    session.install(".[notebook,plot,digits,jax]")
    for backend in ("numpy", "jax", "torch"):
        session.run("python", "-c", _EXECUTE, NOTEBOOK,
                    env={"PORTABLE_LAYERS_BACKEND": backend})


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site: ``mkdocs build --strict`` (a warning fails it) into site/.
    The notebook page is executed on NumPy at build time (matplotlib, scikit-learn's digits,
    JAX for its autodiff oracle and a Jupyter kernel are what it needs)."""
    session.install(".[docs,notebook,plot,digits,jax]")
    session.run("mkdocs", "build", "--strict", "--site-dir", "site",
                env={"PORTABLE_LAYERS_BACKEND": "numpy", "NO_MKDOCS_2_WARNING": "1"})
