"""What the tests share, one module per purpose (tests/conftest.py puts tests/ on sys.path, so a test
file imports them as ``from helpers.op_check import check_op``):

- op_check: check_op, the one forward-and-backward check of an op against PyTorch float64.
- activation_cases: random shapes, extremes and the elementwise check of the smooth activations.
- saturating_cases: the sigmoid and tanh tests, called by name from test_sigmoid.py and test_tanh.py.
- softmax_cases: the softmax and log_softmax tests, called by name from their test files.
- pooling: pool_output_size, PyTorch's pooling output size written out independently of the C++ one.
- onnx_builders: ONNX models built by hand (make_model, make_node, make_initializer) and
  run_onnxruntime, the reference the ONNX tests compare against.
- subprocess_env: the environment for a subprocess that must import the pycnn under test.
- tolerance: assert_close-like tolerances that scale with the values and the reduction length.
- branch_replay: a float64 reference gradient on the kink branches a float32 engine took.
- torchvision_import: import_torchvision, torchvision beside the pinned CPU torch (or a skip).
"""
