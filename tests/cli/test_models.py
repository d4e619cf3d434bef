"""``--models`` with BACKBONE:SCHEDULE and ``--weights`` with a folder (no training)."""

import pytest

import mammoclf.classifiers
from mammoclf.classifiers import BACKBONES
from mammoclf.cli._common import UsageError
from mammoclf.cli._models import (
    check_image_size,
    check_weights_argument,
    resolve_weights,
    selected_models,
    transfer_backbones,
    weights_label,
)
from mammoclf.exceptions import WeightsUnavailableError


def test_backbone_schedule_models_follow_the_study_models():
    specs = selected_models(
        "resnet50:partial,scratch,densenet121:partial,efficientnetb0:frozen"
    )
    assert [s.key for s in specs] == [
        "scratch",
        "resnet50_partial",
        "densenet121_partial",
        "efficientnetb0_frozen",
    ]
    assert [s.name for s in specs][1:] == [
        "ResNet50 partial",
        "DenseNet121 partial",
        "EfficientNetB0 frozen",
    ]
    assert transfer_backbones(specs) == ("resnet50", "densenet121", "efficientnetb0")
    assert selected_models("frozen")[0].backbone == "densenet121"


def test_a_block_name_is_a_schedule_and_sizes_come_from_the_registry():
    (spec,) = selected_models("inceptionv3:mixed9")
    assert (spec.backbone, spec.schedule, spec.min_image_size) == (
        "inceptionv3",
        "mixed9",
        75,
    )
    with pytest.raises(UsageError, match="too small for InceptionV3 mixed9"):
        check_image_size(64, [spec])


@pytest.mark.parametrize(
    "text, match",
    [
        ("resnet5:partial", "unknown backbone 'resnet5'"),
        ("resnet50:conv6", "unknown schedule 'conv6' for resnet50; choose from"),
        ("scratch,vgg", "unknown model"),
    ],
)
def test_bad_models_are_refused_with_the_choices(text, match):
    with pytest.raises(UsageError, match=match):
        selected_models(text)


def test_one_weights_file_cannot_serve_two_backbones(tmp_path):
    path = tmp_path / "w.h5"
    path.write_bytes(b"x")
    specs = selected_models("frozen,resnet50:frozen")
    with pytest.raises(UsageError, match="pass a folder holding each backbone"):
        check_weights_argument(str(path), specs)
    check_weights_argument(str(tmp_path), specs)  # a folder is fine


def test_a_weights_folder_names_every_missing_file(tmp_path):
    with pytest.raises(WeightsUnavailableError) as info:
        resolve_weights(
            str(tmp_path),
            synthetic=True,
            needed=("resnet50", "efficientnetb0"),
            log=print,
        )
    message = str(info.value)
    assert BACKBONES["resnet50"].weights_file in message
    assert BACKBONES["efficientnetb0"].weights_file in message


def test_offline_imagenet_names_every_missing_file(monkeypatch):
    def offline(backbone, *, weights):
        raise WeightsUnavailableError(f"no {backbone} (offline test)")

    monkeypatch.setattr(mammoclf.classifiers, "fetch_pretrained_weights", offline)
    needed = ("resnet50", "efficientnetb0")
    with pytest.raises(WeightsUnavailableError, match="2 backbones; missing files"):
        resolve_weights("imagenet", synthetic=False, needed=needed, log=print)
    weights, banner = resolve_weights(
        "imagenet", synthetic=True, needed=needed, log=lambda _: None
    )
    assert weights == {"resnet50": None, "efficientnetb0": None}
    assert "efficientnetb0_notop.h5" in banner and "ResNet50, EfficientNetB0" in banner


def test_none_and_the_run_record():
    weights, banner = resolve_weights(
        "none", synthetic=False, needed=("resnet50",), log=print
    )
    assert weights == {"resnet50": None} and banner.startswith("ResNet50 rows use")
    assert weights_label(weights) == "random"
    assert weights_label({}) == "random"
    assert weights_label({"resnet50": "imagenet"}) == "imagenet"
    assert weights_label({"resnet50": "/w/resnet50.h5", "vgg16": "imagenet"}) == "file"
