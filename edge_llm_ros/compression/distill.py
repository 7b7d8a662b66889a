"""`optimize distill`: train a small student on drive crops labelled by a teacher from the store.

The student predicts OUR classes (car, truck, bus, motorcycle, bicycle, person, other), not the
teacher's 1000 ImageNet classes:
- the pipeline only ever acts on our classes: every ImageNet id outside the label map's table
  collapses into "other", so a 1000-way head would spend the student's capacity (and a 1000-wide
  final layer) on distinctions nobody reads;
- our 7-way distribution is learnable from a few hundred drive crops in minutes on a CPU, whereas
  matching the teacher's 1000-way top-1 on a narrow crop distribution is not (most classes never
  occur, and on small crops the teacher's top-1 is a near-tie between "other" classes);
- the student's manifest carries an identity label map (source "roi-classes") and its own
  preprocess spec, so `RoiClassifier` loads it unchanged and the gate compares pipeline classes.
The price: its output (and, with a smaller input, its input) differs from the teacher's, so the
lifecycle manager's interface check will not hot-swap it in place of the 1000-way classifier; it is
deployed by naming it in the scene configuration instead.

Student: a MobileNetV2-style network (inverted residual blocks, depthwise 3x3/5x5, ReLU6 like
EfficientNet-Lite so it quantizes well) at a smaller input (112x112 by default; most drive crops
are under 60 px, so 224 only upsamples them). Teacher targets: the teacher's ImageNet
probabilities summed into our classes with its label map, then tempered; hard labels: the
teacher's pipeline class (default) or the bag's ground-truth class (`hard_labels="ground-truth"`).
Loss: compression.train.
"""

from __future__ import annotations

import shutil
from dataclasses import replace

import torch
from torch import nn

from edge_llm_ros.compression.check import CheckReport
from edge_llm_ros.compression.metrics import pipeline_classes
from edge_llm_ros.compression.publish import MODEL_FILE, Variant, roi_label_map, tool_versions, variant_version
from edge_llm_ros.compression.settings import (
    DEFAULT_DISTILL_TRAIN,
    DEFAULT_STUDENT_SIZE,
    TrainConfig,
    check_hard_labels,
)
from edge_llm_ros.compression.torch_models import export_onnx, parameter_count
from edge_llm_ros.compression.train import fit, soft_targets
from edge_llm_ros.compression.workflow import Session
from edge_llm_ros.models.labels import ClassRollup

# (expansion, output channels, repeats, first stride, kernel) per stage; EfficientNet-Lite0 has
# 7 stages up to 320 channels and a 1280-wide head.
STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 16, 1, 1, 3),
    (4, 24, 2, 2, 3),
    (4, 40, 2, 2, 5),
    (4, 80, 2, 2, 3),
    (4, 112, 1, 1, 5),
)
HEAD_CHANNELS = 256


def _channels(value: float, width: float) -> int:
    """Scale a channel count by `width`, rounded to a multiple of 8 (at least 8)."""
    return max(8, int(value * width + 4) // 8 * 8)


class ConvBnAct(nn.Sequential):
    """Conv (no bias) + BatchNorm + optional ReLU6, 'same' padding."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> None:
        """Build the three layers."""
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
        ]
        if act:
            layers.append(nn.ReLU6(inplace=True))
        super().__init__(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, depthwise kxk, 1x1 project; residual when shapes allow."""

    def __init__(self, cin: int, cout: int, expansion: int, stride: int, kernel: int) -> None:
        """Build the block."""
        super().__init__()
        hidden = cin * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(ConvBnAct(cin, hidden, 1))
        layers += [ConvBnAct(hidden, hidden, kernel, stride, groups=hidden), ConvBnAct(hidden, cout, 1, act=False)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Block output."""
        out = self.body(x)
        return x + out if self.residual else out


class RoiStudent(nn.Module):
    """A small ROI classifier over our classes (see the module docstring)."""

    def __init__(self, num_classes: int, width: float = 1.0, dropout: float = 0.2) -> None:
        """`width` scales every channel count (0.5 = half as wide)."""
        super().__init__()
        cin = _channels(16, width)
        blocks: list[nn.Module] = [ConvBnAct(3, cin, 3, 2)]
        for expansion, channels, repeats, stride, kernel in STAGES:
            cout = _channels(channels, width)
            for i in range(repeats):
                blocks.append(InvertedResidual(cin, cout, expansion, stride if i == 0 else 1, kernel))
                cin = cout
        head = _channels(HEAD_CHANNELS, width)
        blocks.append(ConvBnAct(cin, head, 1))
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(head, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits over our classes."""
        return self.classifier(self.dropout(torch.flatten(self.pool(self.features(x)), 1)))


def distill(
    session: Session,
    *,
    size: int = DEFAULT_STUDENT_SIZE,
    width: float = 1.0,
    train: TrainConfig = DEFAULT_DISTILL_TRAIN,
    train_crops: int | None = None,
    hard_labels: str = "teacher",
    version: str | None = None,
    max_drop: float | None = None,
    overwrite: bool = False,
) -> CheckReport:
    """Train a student from the session's parent (the teacher), write it into the store and check it."""
    check_hard_labels(hard_labels)
    if size < 32:
        raise ValueError(f"student input size must be >= 32, got {size}")
    teacher_ref = session.parent
    teacher_spec, labels = session.parent_classifier()
    crops = session.training_sample(train_crops, train.seed, "distillation")
    teacher = session.teacher_logits(crops)
    width_src = teacher.shape[1]
    rollup = ClassRollup(labels, width_src)(torch.eye(width_src).numpy())
    soft = soft_targets(teacher, train.temperature, rollup)
    hard = pipeline_classes(labels, teacher) if hard_labels == "teacher" else crops.labels
    spec = replace(teacher_spec, height=size, width=size)

    torch.manual_seed(train.seed)
    student = RoiStudent(len(labels.classes), width)
    losses = fit(student, crops, spec, soft, hard, train, progress=session.progress)
    staging = session.staging()
    try:
        example = torch.from_numpy(crops.preprocess(spec, [0, 1]))
        with session.progress("export ONNX", 1) as update:
            info = export_onnx(student, example, staging / MODEL_FILE, spec.input_name,
                               teacher_ref.manifest.outputs[0].name)
            update(1)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    params = {
        "architecture": "RoiStudent (MobileNetV2-style inverted residuals, ReLU6)", "input_size": size,
        "width": width, "classes": list(labels.classes), "parameters": parameter_count(student),
        "train_crops": len(crops), "hard_labels": hard_labels, "epochs": train.epochs,
        "batch_size": train.batch_size, "lr": train.lr, "weight_decay": train.weight_decay,
        "temperature": train.temperature, "alpha": train.alpha, "seed": train.seed,
        "epoch_losses": [round(v, 4) for v in losses],
    }
    variant = Variant(
        method="distill",
        version=version or variant_version(teacher_ref.version, "student"),
        description=f"student of {teacher_ref.model_id}: {parameter_count(student):,}-parameter MobileNetV2-style "
        f"network at {size}x{size}, predicts {', '.join(labels.classes)}",
        parameters=params,
        steps=[
            f"teacher {teacher_ref.model_id} run on {len(crops)} training crops (letterboxed to "
            f"{teacher_spec.height}x{teacher_spec.width}); its probabilities summed into our classes with its "
            f"label map, then tempered at T={train.temperature} = soft targets",
            f"student trained from scratch {train.epochs} epoch(s): AdamW lr {train.lr} (warm-up + cosine), batch "
            f"{train.batch_size}, loss {train.alpha} * T^2 * KL + {1 - train.alpha:.2f} * cross-entropy on "
            f"{hard_labels} labels, crops letterboxed to {size}x{size}, random horizontal flips",
            f"torch.onnx.export(dynamo=True, opset {info['opset']}, dynamic batch dim, example batch 2) with torch "
            f"{info['torch']}; max |diff| vs torch {info['max_abs_diff_vs_torch']:.2e}",
        ],
        tools={**tool_versions("onnxscript"), "torch": str(torch.__version__)},
    )
    return session.finish(staging, variant, preprocess=spec, labels=roi_label_map(labels.classes),
                          max_drop=max_drop, overwrite=overwrite)
