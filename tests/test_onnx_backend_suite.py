"""onnx's operator test suite through pycnn.onnx.load (see tests/onnx_backend_suite.py): over the ops
pycnn imports and those issue 12 asks for, no wrong answer and no exception but OnnxImportError; every
float32 case of the core families passes (KNOWN_REFUSED lists what stays refused, with the reason).
The table of pass/refused counts per op is printed (pytest -s)."""
import pytest

pytest.importorskip("onnx")
import onnx_backend_suite as suite  # noqa: E402


@pytest.fixture(scope="module")
def results():
    return suite.run_suite(suite.SCOPE)


def test_no_wrong_answer_and_no_unexpected_exception(results):
    print("\n" + suite.table(results))
    bad = [f"{outcome} {name}: {detail[:400]}" for r in results.values() for outcome in ("wrong", "error")
           for name, _, detail in r[outcome]]
    assert not bad, "\n".join(bad)
    assert suite.totals(results)["pass"] > 0


def test_every_float32_case_of_the_core_families_passes(results):
    missing = [f"{op} {name}: {detail}" for op in suite.REQUIRED for name, float32, detail in
               results.get(op, {}).get("refused", []) if float32 and name not in suite.KNOWN_REFUSED]
    assert not missing, "\n".join(missing)
    now_passing = [name for op in suite.REQUIRED for name, _, _ in results.get(op, {}).get("pass", [])
                   if name in suite.KNOWN_REFUSED]
    assert not now_passing, f"remove from KNOWN_REFUSED, they pass now: {now_passing}"


def test_every_supported_attribute_has_a_type():
    """Each attribute an importer takes has a declared kind, so that a file's attribute of the wrong type
    is a problem, never a KeyError."""
    from pycnn.onnx.ops import IMPORTERS

    missing = [f"{name}.{attr}" for name, op in IMPORTERS.items() for attr in op.attrs if attr not in op.attr_kinds]
    assert not missing


def test_no_imported_op_changed_after_the_newest_opset_read():
    """pycnn reads files up to parse.MAX_OPSET: each op it imports has no newer version than that in the
    installed onnx (a new version's semantics would need reading first)."""
    import onnx.defs

    from pycnn.onnx.ops import IMPORTERS
    from pycnn.onnx.parse import MAX_OPSET

    newer = {op: onnx.defs.get_schema(op, onnx.defs.onnx_opset_version()).since_version for op in IMPORTERS}
    assert {op: v for op, v in newer.items() if v > MAX_OPSET} == {}


def test_every_required_family_has_float32_cases(results):
    """The suite really runs: each core family has float32 cases, most of them passing."""
    for op in suite.REQUIRED:
        passed = [name for name, float32, _ in results[op]["pass"] if float32]
        assert passed, f"{op}: no float32 case passes"
