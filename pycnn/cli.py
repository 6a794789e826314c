"""The ``pycnn`` command.

    pycnn train --model lenet5 --data mnist-sample --epochs 10 [--augment] [--optimizer sgd|adam|rmsprop]
                [--lr 0.05] [--momentum 0.9] [--weight-decay 1e-4] [--batch-size 32] [--device cpu|cuda]
                [--out DIR] [--resume] [--seed 0] [--threads N]
    pycnn eval --model lenet5 --weights DIR/model.npz --data mnist-sample
    pycnn summary MODEL [--input-shape 3,224,224] [--num-classes 1000]
    pycnn import FILE.onnx                      (what pycnn supports in the file, node by node)
    pycnn finetune FILE.onnx --data folder:PATH [--strategy feature_extractor|partial|fine_tune]
                   [--trainable-layers 1] [--epochs 10] [--lr 0.01] [--batch-size 32] [--out DIR]

The --data sets and their loading: pycnn.cli_data; ONNX files (loading, fitting images to a model's
input, normalisation inside the graph): pycnn.cli_onnx. Errors in arguments or data (UsageError,
pycnn.cli_errors) are one line on stderr and exit status 2.
"""
import argparse
import os
import sys
import time

import numpy as np

from . import files
from .cli_data import DATA_HELP, load_args_data, normalizer
from .cli_errors import UsageError
from .cli_onnx import embed_normalization, embedded_normalization, fit_to_model, is_onnx, load_onnx_model


def build_model(name, num_classes, in_channels, size):
    from . import models

    if name not in models.MODELS:
        raise UsageError(f"--model: unknown model {name!r}; known: {', '.join(sorted(models.MODELS))}")
    model = models.MODELS[name](num_classes=num_classes)
    first = next((m for m in model.modules() if type(m).__name__ == "Conv2d"), None)
    if first is not None and first.in_channels != in_channels:
        raise UsageError(f"--model {name} expects {first.in_channels}-channel images, the data has {in_channels}")
    return model


def make_optimizer(args, params):
    from . import optim

    if args.optimizer == "sgd":
        return optim.SGD(params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay,
                         nesterov=args.momentum > 0)
    if args.optimizer == "adam":
        return optim.Adam(params, lr=args.lr, weight_decay=args.weight_decay)
    return optim.RMSprop(params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)


def _check_run_args(args):
    """The checks `train` and `finetune` share."""
    if args.epochs < 1:
        raise UsageError(f"--epochs must be at least 1, got {args.epochs}")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")
    if not args.lr > 0:
        raise UsageError(f"--lr must be positive, got {args.lr}")


def _check_train_args(args):
    _check_run_args(args)
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be at least 1, got {args.threads}")
    if args.momentum < 0 or args.weight_decay < 0:
        raise UsageError(f"--momentum and --weight-decay must be >= 0, got {args.momentum} and {args.weight_decay}")


def _replan_on_resume(scheduler, checkpoint, epochs):
    """The scheduler to resume with. A run resumed with another --epochs than it began with continues
    from the epoch it reached, its cosine schedule re-planned to end at the new --epochs (the rate
    at that epoch becomes the closed form's for the new length, as if the run had been planned so)."""
    from . import optim, train

    state = train.load_checkpoint(checkpoint)
    planned = (state["scheduler"] or {}).get("T_max")
    done = state["next_epoch"]
    if planned == epochs:
        return scheduler
    if epochs <= done:
        raise UsageError(f"--resume: {checkpoint} has already run {done} epochs, so --epochs must be more "
                         f"than {done} to continue it, got --epochs {epochs}")

    class Replanned(optim.lr_scheduler.CosineAnnealingLR):
        def load_state_dict(self, saved):
            super().load_state_dict(saved)
            self.T_max = epochs
            for group, lr in zip(self.optimizer.param_groups, self._closed_form_lr()):
                group["lr"] = lr
            self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    return Replanned(scheduler.optimizer, T_max=epochs, eta_min=scheduler.eta_min)


def _launch_processes(args, argv):
    """Runs this same command under ``mpiexec -n args.nproc`` and returns its exit status."""
    import shutil
    import subprocess

    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    mpiexec = beside if os.path.exists(beside) else shutil.which("mpiexec")
    if mpiexec is None:
        raise UsageError("--nproc: mpiexec was not found; install it with `pip install pycnn[distributed]`")
    # Each rank imports this very pycnn: first on its path, ahead of the working directory (which
    # `python -m`/`-c` would put first, and which may hold a source checkout without the built _C).
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = f"import sys; sys.path.insert(0, {here!r}); from pycnn.cli import main; sys.exit(main())"
    return subprocess.call([mpiexec, "-n", str(args.nproc), sys.executable, "-c", code] + list(argv))


def cmd_train(args):
    import pycnn
    from . import data, distributed, nn, optim, train, viz

    _check_train_args(args)
    if args.nproc < 1:
        raise UsageError(f"--nproc: expected a positive number of processes, got {args.nproc}")
    if args.nproc > 1 and distributed.process_group._launched_size() is None:
        return _launch_processes(args, args.argv)
    world = distributed.process_group._launched_size() or 1
    if world > 1:
        distributed.init_process_group()
    lead = distributed.get_rank() == 0  # rank 0 alone prints and writes
    if args.threads is not None:
        pycnn.set_num_threads(args.threads)
    pycnn.use_deterministic_algorithms(args.deterministic)
    pycnn.manual_seed(args.seed)
    (x_train, y_train), (x_test, y_test), classes = load_args_data(args)
    mean, std = normalizer(x_train)
    size = x_train.shape[2]
    model = build_model(args.model, len(classes), x_train.shape[1], size).to(args.device)
    net = model  # what is saved and evaluated; `model` trains, wrapped for data parallelism when world > 1
    if world > 1:
        model = nn.parallel.DistributedDataParallel(net)
    augment = [data.transforms.RandomCrop(size, padding=max(1, size // 14))] if args.augment else []
    if args.augment and x_train.shape[1] == 3:
        augment.append(data.transforms.RandomHorizontalFlip())
    normalize = data.transforms.Normalize(mean, std)
    train_set = data.ArrayDataset(x_train, y_train)
    sampler = data.DistributedSampler(train_set, seed=args.seed) if world > 1 else None
    train_loader = data.DataLoader(train_set, batch_size=args.batch_size, shuffle=sampler is None, sampler=sampler,
                                   seed=args.seed, transform=data.transforms.Compose(augment + [normalize]))
    test_loader = data.DataLoader(data.ArrayDataset(x_test, y_test), batch_size=256, transform=normalize)
    optimizer = make_optimizer(args, model.parameters())
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    os.makedirs(args.out, exist_ok=True)
    checkpoint = os.path.join(args.out, "checkpoint.npz")
    resume = checkpoint if args.resume and os.path.exists(checkpoint) else None
    if args.resume and resume is None:
        raise UsageError(f"--resume: no checkpoint at {checkpoint}")
    if resume is not None:
        scheduler = _replan_on_resume(scheduler, resume, args.epochs)
    if lead:
        print(f"pycnn train: {args.model} on {args.data} ({len(y_train)} train / {len(y_test)} test images, "
              f"{len(classes)} classes), {args.epochs} epochs, {args.optimizer} lr {args.lr}, batch {args.batch_size}, "
              f"augment {'on' if args.augment else 'off'}, device {args.device}, {pycnn.get_num_threads()} threads"
              + (f", {world} processes" if world > 1 else ""))
    began = time.perf_counter()
    history = train.fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, args.epochs, val_loader=test_loader,
                        scheduler=scheduler, callbacks=[train.Checkpoint(checkpoint)], device=args.device,
                        progress=_progress_mode(args), resume=resume)
    seconds = time.perf_counter() - began
    if not lead:  # the final metrics are rank 0's to print; the others' copies of the model are the same
        return 0
    metrics = train.evaluate(net, test_loader, topk=(1, 5), device=args.device)
    files.save(net.state_dict(), os.path.join(args.out, "model.npz"))
    history.save_csv(os.path.join(args.out, "history.csv"))
    history.save_json(os.path.join(args.out, "history.json"))
    try:
        history.plot(os.path.join(args.out, "curves.png"))
        first = next((m for m in net.modules() if type(m).__name__ == "Conv2d"), None)
        if first is not None:
            viz.plot_filters(first.weight, os.path.join(args.out, "filters.png"))
    except ImportError as error:
        print(f"pycnn train: pictures skipped ({error})")
    print(f"test top-1 {metrics['top1'] * 100:.2f}%  top-5 {metrics['top5'] * 100:.2f}%  "
          f"({len(y_test)} images), trained in {seconds:.1f} s; wrote {os.path.join(args.out, 'model.npz')}, "
          f"history.csv/.json, curves.png, filters.png")
    return 0


def cmd_eval(args):
    from . import data, train

    if not os.path.isfile(args.weights):
        raise UsageError(f"--weights: no file at {args.weights}")
    (x_train, _), (x_test, y_test), classes = load_args_data(args)
    name = args.model
    if is_onnx(args.weights):  # the file is the whole model; --model does not apply
        model, dims = load_onnx_model(args.weights, "--weights")
        model = model.to(args.device)
        x_train, x_test = fit_to_model(x_train, dims), fit_to_model(x_test, dims)
        name = os.path.basename(args.weights)
        embedded = embedded_normalization(args.weights) is not None
    else:
        model = build_model(args.model, len(classes), x_test.shape[1], x_test.shape[2]).to(args.device)
        try:
            weights = files.load(args.weights)
        except ValueError as error:
            raise UsageError(f"--weights: {args.weights} is not a weights file written by pycnn train "
                             f"({error})") from None
        model.load_state_dict(weights)
        embedded = False
    mean, std = normalizer(x_train)
    loader = data.DataLoader(data.ArrayDataset(x_test, y_test), batch_size=256,
                             transform=None if embedded else data.transforms.Normalize(mean, std))
    metrics = train.evaluate(model, loader, topk=(1, 5), device=args.device)
    print(f"{name} on {args.data}: top-1 {metrics['top1'] * 100:.2f}%  top-5 {metrics['top5'] * 100:.2f}%  "
          f"({len(y_test)} images)")
    return 0


def _parse_input_shape(text):
    try:
        shape = tuple(int(d) for d in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise UsageError(f"--input-shape: expected C,H,W like 3,224,224, got {text!r}")
    return shape


def cmd_summary(args):
    from . import models
    from .summary import summary

    if is_onnx(args.model):
        model, dims = load_onnx_model(args.model, "summary")
        if args.input_shape is not None:
            shape = _parse_input_shape(args.input_shape)
        elif len(dims) > 1 and all(isinstance(d, int) and d > 0 for d in dims[1:]):
            shape = tuple(dims[1:])
        else:
            raise UsageError(f"{args.model} declares input dims {dims}; give --input-shape C,H,W")
        print(summary(model, shape))
        return 0
    if args.model not in models.MODELS:
        raise UsageError(f"unknown model {args.model!r}; known: {', '.join(sorted(models.MODELS))} "
                         f"(or a .onnx file)")
    shape = _parse_input_shape(args.input_shape or DEFAULT_SHAPES.get(args.model, "3,224,224"))
    model = models.MODELS[args.model](num_classes=args.num_classes) if args.num_classes else models.MODELS[args.model]()
    print(summary(model, shape))
    return 0


def cmd_import(args):
    from . import onnx

    report = onnx.check(args.file)
    print(report)
    if report.problems:
        print(f"pycnn import: {len(report.problems)} unsupported node(s); the model cannot be loaded", file=sys.stderr)
        return 1
    return 0 if report.ok else 1


def cmd_finetune(args):
    import pycnn
    from . import data, nn, onnx, optim, train, transfer

    _check_run_args(args)
    pycnn.manual_seed(args.seed)
    model, dims = load_onnx_model(args.file, "finetune")
    (x_train, y_train), (x_test, y_test), classes = load_args_data(args)
    x_train, x_test = fit_to_model(x_train, dims), fit_to_model(x_test, dims)
    transfer.prepare(model, len(classes), args.strategy,
                     args.trainable_layers if args.strategy == "partial" else None)
    model.to(args.device)
    mean, std = normalizer(x_train)
    normalize = data.transforms.Normalize(mean, std)
    train_loader = data.DataLoader(data.ArrayDataset(x_train, y_train), batch_size=args.batch_size, shuffle=True,
                                   seed=args.seed, transform=normalize)
    test_loader = data.DataLoader(data.ArrayDataset(x_test, y_test), batch_size=256, transform=normalize)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = optim.SGD(trainable, lr=args.lr, momentum=0.9)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    print(f"pycnn finetune: {args.file} -> {len(classes)} classes ({args.strategy}: "
          f"{sum(p.numel() for p in trainable):,} trainable, {frozen:,} frozen parameters), {len(y_train)} train / "
          f"{len(y_test)} test images, {args.epochs} epochs")
    train.fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, args.epochs, val_loader=test_loader,
              device=args.device, progress=_progress_mode(args))
    metrics = train.evaluate(model, test_loader, topk=(1,), device=args.device)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "model.onnx")
    model.to("cpu")
    onnx.export(model, path, (1,) + tuple(x_train.shape[1:]))
    if args.embed_normalization:
        embed_normalization(path, mean, std)
    files.save({"mean": np.asarray(mean, np.float32), "std": np.asarray(std, np.float32),
                "classes": np.asarray(classes)}, os.path.join(args.out, "normalize.npz"))
    where = "inside the graph, so it takes raw images in [0, 1]" if args.embed_normalization else \
        "not in the graph: normalise inputs yourself"
    print(f"test top-1 {metrics['top1'] * 100:.2f}% ({len(y_test)} images); wrote {path} (input normalisation "
          f"mean {np.round(mean, 4).tolist()}, std {np.round(std, 4).tolist()} {where}; also in "
          f"{args.out}/normalize.npz)")
    return 0


def _progress_mode(args):
    """fit's progress: a bar only on a terminal (auto), the epoch lines always, even with --quiet."""
    return "lines" if args.quiet else "auto"


DEFAULT_SHAPES = {"lenet5": "1,28,28", "resnet20": "3,32,32", "resnet56": "3,32,32", "alexnet": "3,224,224"}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage block), like every other error here."""

    def error(self, message):
        self.exit(2, f"pycnn: error: {message} (see {self.prog} --help)\n")


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default after its help (argparse's ArgumentDefaultsHelpFormatter), except an
    unset one (None) or an off switch, whose help says what happens without it."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def _model_names():
    from . import models

    return ", ".join(sorted(models.MODELS))


def _add_folder_options(p):
    p.add_argument("--image-size", default=None, metavar="SIZE",
                   help="with --data folder:PATH: resize every image to SIZE or HEIGHT,WIDTH (bilinear); "
                        "without it all images must share one size")
    p.add_argument("--grayscale", action="store_true", help="with --data folder:PATH: read the images as one "
                   "channel (LeNet-5 takes 1-channel images)")


def _add_run_options(p, epochs, lr):
    """The options `train` and `finetune` share."""
    p.add_argument("--epochs", type=int, default=epochs, help="passes over the training images")
    p.add_argument("--lr", type=float, default=lr, help="initial learning rate")
    p.add_argument("--batch-size", type=int, default=32, help="images per training step")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where to train")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial weights, the shuffling and augmentation")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bars (they show only on a terminal anyway); the per-epoch metric lines stay")


def parser():
    from . import __version__

    models = _model_names()
    p = _Parser(prog="pycnn", description="Train, evaluate and inspect CNNs with pycnn.", formatter_class=_Help)
    p.add_argument("--version", action="version", version=f"pycnn {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    t = sub.add_parser("train", help="train a model", formatter_class=_Help,
                       description="Train a model from the zoo, then write the weights, the history and "
                                   "pictures of the curves and the first layer's filters to --out.")
    t.add_argument("--model", default="lenet5", help=f"one of: {models}")
    t.add_argument("--data", default="mnist-sample", help=DATA_HELP)
    _add_folder_options(t)
    _add_run_options(t, epochs=10, lr=0.05)
    t.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                   help="random crops with padding (and horizontal flips for colour images)")
    t.add_argument("--optimizer", choices=["sgd", "adam", "rmsprop"], default="sgd",
                   help="sgd is Nesterov SGD when --momentum > 0; the learning rate follows a cosine schedule "
                        "from --lr down to 0 over --epochs (CosineAnnealingLR)")
    t.add_argument("--momentum", type=float, default=0.9, help="momentum of sgd and rmsprop")
    t.add_argument("--weight-decay", type=float, default=1e-4, help="L2 penalty")
    t.add_argument("--out", default=None, help="output folder (default: runs/MODEL)")
    t.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint.npz; a larger --epochs than the run began with extends it "
                        "(its cosine schedule re-planned to end at the new --epochs)")
    t.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    t.add_argument("--deterministic", action="store_true",
                   help="the same result whatever --threads (pycnn.use_deterministic_algorithms; a few percent "
                        "slower)")
    t.add_argument("--nproc", type=int, default=1,
                   help="data-parallel processes: runs `mpiexec -n N` on this command (needs pycnn[distributed]); "
                        "--batch-size is per process")
    t.set_defaults(run=cmd_train)
    e = sub.add_parser("eval", help="evaluate saved weights or an ONNX model", formatter_class=_Help,
                       description="Top-1 and top-5 accuracy on the held-out images of --data.")
    e.add_argument("--weights", required=True,
                   help="model.npz written by pycnn train (with --model), or a .onnx file (the whole model)")
    e.add_argument("--model", default="lenet5", help=f"the architecture of an .npz: one of: {models}")
    e.add_argument("--data", default="mnist-sample", help=DATA_HELP)
    _add_folder_options(e)
    e.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where to run")
    e.set_defaults(run=cmd_eval)
    s = sub.add_parser("summary", help="per-layer table: output shapes, parameters, multiply-accumulates",
                       formatter_class=_Help)
    s.add_argument("model", help=f"one of: {models}; or a .onnx file (one row per node)")
    s.add_argument("--input-shape", default=None,
                   help="C,H,W of one image (default: lenet5 1,28,28, resnet20/56 3,32,32, other zoo models "
                        "3,224,224, an ONNX file its declared input)")
    s.add_argument("--num-classes", type=int, default=None, help="a zoo model's classes (default: its own)")
    s.set_defaults(run=cmd_summary)
    i = sub.add_parser("import", help="check an ONNX model: unsupported nodes, where each node runs",
                       formatter_class=_Help)
    i.add_argument("file", help="the .onnx file")
    i.set_defaults(run=cmd_import)
    f = sub.add_parser("finetune", help="adapt an ONNX model to new classes and export the result",
                       formatter_class=_Help,
                       description="Replace the classifier of an ONNX model for the classes of --data, train, "
                                   "and write OUT/model.onnx (SGD with momentum 0.9, constant --lr).")
    f.add_argument("file", help="the .onnx file")
    f.add_argument("--data", required=True, help=DATA_HELP)
    _add_folder_options(f)
    f.add_argument("--strategy", choices=["feature_extractor", "partial", "fine_tune"], default="feature_extractor",
                   help="feature_extractor trains the new head only, partial the last --trainable-layers "
                        "layers, fine_tune everything")
    f.add_argument("--trainable-layers", type=int, default=1, help="with --strategy partial")
    _add_run_options(f, epochs=10, lr=0.01)
    f.add_argument("--out", default=os.path.join("runs", "finetune"), help="output folder")
    f.add_argument("--embed-normalization", action=argparse.BooleanOptionalAction, default=True,
                   help="put the input normalisation into the exported graph (a Sub and a Div in front), so "
                        "onnxruntime takes raw images in [0, 1]")
    f.set_defaults(run=cmd_finetune)
    return p


def _quiet_broken_pipe():
    """The reader of stdout went away (``pycnn summary x | head``): end quietly, as Unix tools do.
    Later writes, Python's own flush at exit included, go to /dev/null."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file descriptor (a test's capture)
        pass
    finally:
        os.close(devnull)


def main(argv=None):
    """Runs the command in ``argv`` (default sys.argv[1:]); returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parser().parse_args(argv)
    except SystemExit as done:  # --help, --version, or a usage error already printed
        return done.code
    except BrokenPipeError:  # --help piped into head
        _quiet_broken_pipe()
        return 0
    args.argv = argv  # what --nproc hands to mpiexec
    if args.command == "train":
        args.out = args.out or os.path.join("runs", args.model)
    try:
        result = args.run(args)
        sys.stdout.flush()
        return result
    except BrokenPipeError:
        _quiet_broken_pipe()
        return 0
    except (UsageError, ValueError, TypeError, KeyError, FileNotFoundError, ImportError, RuntimeError,
            OSError, FloatingPointError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"pycnn: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
