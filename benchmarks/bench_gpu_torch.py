"""PyTorch baseline of bench_gpu.py: a ``torchvision.models.densenet121`` training loop.

The network is the one ``DenseNetTransferClassifier`` trains: a grey
``(N, 1, H, W)`` image in ``[0, 1]`` repeated to three channels and
normalised with the ImageNet statistics, torchvision's DenseNet121 features
(random weights), ReLU, global average pooling, then the same head
(Linear 1024->256, ReLU, Dropout 0.2, Linear 256->1) and
``BCEWithLogitsLoss``, trained with Adam. As in mammoclf (and the Keras
fine-tuning guide), every BatchNormalization layer stays in inference mode
with frozen parameters. On a GPU, ``cudnn.benchmark`` picks the fastest
convolution kernels for the fixed input shape.

Modes: ``fp32``; ``bf16`` (``torch.autocast`` with bfloat16); ``bf16-compile``
(the same, the model wrapped in ``torch.compile``). The model and its inputs
are channels-last, the fast layout for convolutions on tensor cores.

Schedules:

- ``full``: every weight but BatchNormalization's trains for ``--epochs``
  epochs; reports images/s over the epochs after the first (which includes
  ``torch.compile``'s compilation);
- ``partial``: the study's partially unfrozen schedule, as mammoclf's
  ``"partial"`` preset: ``--epochs`` epochs of the head alone at 1e-3, then
  ``--epochs`` epochs of ``denseblock4`` (mammoclf's ``conv5``) and the head
  at 1e-4; reports the end-to-end wall time, model creation, compilation and
  every epoch included. No caching: the frozen part runs forward on every
  batch of every epoch (without building autograd graphs, since nothing in
  it requires gradients).

The images live in host memory, as a NumPy array does for Keras; every batch
is gathered in a new shuffled order and copied to the device, as Keras does
with NumPy arrays. ``--data-on-device`` keeps them on the GPU instead (a
best case for PyTorch).

It prints one JSON line; bench_gpu.py runs it in a fresh process per
configuration. On its own (GPU machine, PyTorch and torchvision installed)::

    python benchmarks/bench_gpu_torch.py --mode bf16-compile --batch-size 256
"""

import argparse
import json
import statistics
import time

import numpy as np

MODES = ("fp32", "bf16", "bf16-compile")
SCHEDULES = ("full", "partial")
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_LEARNING_RATE = 1e-3


def build_model(torch, torchvision):
    nn = torch.nn

    class DenseNetTransfer(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = torchvision.models.densenet121(weights=None).features
            self.head = nn.Sequential(
                nn.Linear(1024, 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 1)
            )
            self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))

        def forward(self, images):
            x = (images.expand(-1, 3, -1, -1) - self.mean) / self.std
            x = nn.functional.relu(self.features(x))
            x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
            return self.head(x)

    return DenseNetTransfer()


def set_trainable(model, torch, unfreeze):
    """``unfreeze``: None (head only), "denseblock4" (it and the head) or "all".

    BatchNormalization always stays frozen and in inference mode.
    """
    for name, parameter in model.named_parameters():
        if name.startswith("head.") or unfreeze == "all":
            parameter.requires_grad = True
        elif unfreeze == "denseblock4":
            parameter.requires_grad = name.startswith("features.denseblock4.")
        else:
            parameter.requires_grad = False
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()
            for parameter in module.parameters():
                parameter.requires_grad = False
    return [p for p in model.parameters() if p.requires_grad]


def make_images(n_images, image_size, seed=0):
    """The images bench_gpu.py feeds Keras, in PyTorch's (N, 1, H, W) layout."""
    rng = np.random.default_rng(seed)
    images = rng.random((n_images, image_size, image_size, 1), dtype=np.float32)
    labels = (np.arange(n_images) % 2).astype(np.float32)[:, np.newaxis]
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2)), labels


def run(
    *,
    mode,
    schedule,
    batch_size,
    n_images,
    image_size,
    epochs,
    device,
    data_on_device=False,
    channels_last=True,
    seed=0,
):
    """Train as described in the module docstring; return a dict of timings."""
    import torch
    import torchvision

    started = time.perf_counter()
    torch.manual_seed(seed)
    dev = torch.device(device)
    if dev.type == "cuda":
        # Fixed input shapes: let cuDNN pick its fastest convolution kernels.
        torch.backends.cudnn.benchmark = True
    images, labels = make_images(n_images, image_size, seed)
    X, y = torch.from_numpy(images), torch.from_numpy(labels)
    if data_on_device:
        X, y = X.to(dev), y.to(dev)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = build_model(torch, torchvision).to(dev, memory_format=memory_format)
    model.train()
    forward = torch.compile(model) if mode == "bf16-compile" else model
    loss_fn = torch.nn.BCEWithLogitsLoss()
    autocast = mode != "fp32"
    generator = torch.Generator().manual_seed(seed)

    stages = (
        [("all", epochs, _LEARNING_RATE / 10)]
        if schedule == "full"
        else [
            (None, epochs, _LEARNING_RATE),
            ("denseblock4", epochs, _LEARNING_RATE / 10),
        ]
    )
    epoch_seconds, losses = [], []
    for unfreeze, stage_epochs, learning_rate in stages:
        parameters = set_trainable(model, torch, unfreeze)
        optimizer = torch.optim.Adam(parameters, lr=learning_rate)
        stage_seconds = []
        for _ in range(stage_epochs):
            epoch_started = time.perf_counter()
            order = torch.randperm(n_images, generator=generator)
            if data_on_device:
                order = order.to(dev)
            for start in range(0, n_images, batch_size):
                rows = order[start : start + batch_size]
                xb = (
                    X[rows]
                    .to(dev, non_blocking=True)
                    .contiguous(memory_format=memory_format)
                )
                yb = y[rows].to(dev, non_blocking=True)
                optimizer.zero_grad(set_to_none=True)
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=autocast):
                    loss = loss_fn(forward(xb).float(), yb)
                loss.backward()
                optimizer.step()
            losses.append(float(loss.detach()))  # waits for the epoch's last step
            if dev.type == "cuda":
                torch.cuda.synchronize()
            stage_seconds.append(time.perf_counter() - epoch_started)
        epoch_seconds.append(stage_seconds)
    total = time.perf_counter() - started
    result = {
        "framework": "pytorch",
        "torch": torch.__version__,
        "mode": mode,
        "schedule": schedule,
        "batch_size": batch_size,
        "n_images": n_images,
        "image_size": image_size,
        "epochs": epochs,
        "device": str(dev),
        "device_name": (
            torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
        ),
        "data_on_device": data_on_device,
        "channels_last": channels_last,
        "total_s": total,
        "epoch_s": epoch_seconds,
        "last_loss": losses[-1],
    }
    steady = [s for stage in epoch_seconds for s in stage[1:]]
    if steady:
        result["img_s"] = n_images / statistics.median(steady)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=MODES, default="bf16-compile")
    parser.add_argument("--schedule", choices=SCHEDULES, default="full")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--n-images", type=int, default=2048)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--data-on-device", action="store_true")
    parser.add_argument("--no-channels-last", action="store_true")
    args = parser.parse_args()
    result = run(
        mode=args.mode,
        schedule=args.schedule,
        batch_size=args.batch_size,
        n_images=args.n_images,
        image_size=args.image_size,
        epochs=args.epochs,
        device=args.device,
        data_on_device=args.data_on_device,
        channels_last=not args.no_channels_last,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
