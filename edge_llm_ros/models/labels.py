"""ImageNet-1k and COCO ids mapped to this package's ROI classes, and the probability roll-up.

ImageNet has no "person" or "motorcycle" class, so the table maps the nearest ImageNet classes:
vehicles by type, and clothing/headgear classes (which fire on crops of people) to "person".
Every id not in the table is "other". Class names are the standard ImageNet-1k synset names.
"""

from __future__ import annotations

import numpy as np

from edge_llm_ros.models.manifest import LabelMap

ROI_CLASSES: tuple[str, ...] = ("car", "truck", "bus", "motorcycle", "bicycle", "person", "other")

# ImageNet-1k id -> (ImageNet name, our class). Reviewed by hand; keep sorted by our class.
IMAGENET_TABLE: dict[int, tuple[str, str]] = {
    # car: passenger cars and the parts a tight car crop shows
    407: ("ambulance", "car"),
    436: ("beach wagon, station wagon", "car"),
    468: ("cab, hack, taxi", "car"),
    475: ("car mirror", "car"),
    479: ("car wheel", "car"),
    511: ("convertible", "car"),
    581: ("grille, radiator grille", "car"),
    609: ("jeep, landrover", "car"),
    627: ("limousine", "car"),
    656: ("minivan", "car"),
    661: ("Model T", "car"),
    734: ("police van, paddy wagon", "car"),
    751: ("racer, race car", "car"),
    817: ("sports car", "car"),
    # truck
    555: ("fire engine, fire truck", "truck"),
    569: ("garbage truck, dustcart", "truck"),
    675: ("moving van", "truck"),
    717: ("pickup, pickup truck", "truck"),
    757: ("recreational vehicle, RV", "truck"),
    864: ("tow truck, wrecker", "truck"),
    867: ("trailer truck, tractor trailer", "truck"),
    # bus
    654: ("minibus", "bus"),
    779: ("school bus", "bus"),
    874: ("trolleybus, trackless trolley", "bus"),
    # motorcycle (ImageNet's nearest classes)
    665: ("moped", "motorcycle"),
    670: ("motor scooter, scooter", "motorcycle"),
    # bicycle
    444: ("bicycle-built-for-two, tandem bicycle", "bicycle"),
    671: ("mountain bike, all-terrain bike", "bicycle"),
    870: ("tricycle, trike, velocipede", "bicycle"),
    880: ("unicycle, monocycle", "bicycle"),
    # person: the three person classes, then clothing and headgear that is worn by a person in the crop
    981: ("ballplayer, baseball player", "person"),
    982: ("groom, bridegroom", "person"),
    983: ("scuba diver", "person"),
    399: ("abaya", "person"),
    400: ("academic gown, academic robe", "person"),
    445: ("bikini, two-piece", "person"),
    474: ("cardigan", "person"),
    515: ("cowboy hat, ten-gallon hat", "person"),
    518: ("crash helmet", "person"),
    560: ("football helmet", "person"),
    568: ("fur coat", "person"),
    578: ("gown", "person"),
    601: ("hoopskirt, crinoline", "person"),
    608: ("jean, blue jean, denim", "person"),
    610: ("jersey, T-shirt, tee shirt", "person"),
    614: ("kimono", "person"),
    617: ("lab coat, laboratory coat", "person"),
    638: ("maillot", "person"),
    639: ("maillot, tank suit", "person"),
    652: ("military uniform", "person"),
    655: ("miniskirt, mini", "person"),
    689: ("overskirt", "person"),
    697: ("pajama, pyjama", "person"),
    735: ("poncho", "person"),
    808: ("sombrero", "person"),
    834: ("suit, suit of clothes", "person"),
    841: ("sweatshirt", "person"),
    869: ("trench coat", "person"),
    887: ("vestment", "person"),
}

IMAGENET_NUM_CLASSES = 1000
COCO_PERSON_ID = 1


def imagenet_label_map() -> LabelMap:
    """The ROI classifier's label map: ImageNet-1k ids -> ROI_CLASSES, unmapped ids -> "other"."""
    return LabelMap(
        classes=ROI_CLASSES,
        source="imagenet-1k",
        source_to_class={i: c for i, (_, c) in IMAGENET_TABLE.items()},
        source_names={i: n for i, (n, _) in IMAGENET_TABLE.items()},
        default_class="other",
    )


def coco_person_label_map() -> LabelMap:
    """The person detector's label map: COCO id 1 is person; other ids are ignored."""
    return LabelMap(
        classes=("person",),
        source="coco",
        source_to_class={COCO_PERSON_ID: "person"},
        source_names={COCO_PERSON_ID: "person"},
        default_class=None,
    )


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32 (stable: the max is subtracted first)."""
    x = logits.astype(np.float32, copy=False)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class ClassRollup:
    """Sums the model's per-source-class probabilities into our classes with one matrix product.

    Built once per label map; `__call__` on an [N, num_source] probability batch returns [N, len(classes)].
    A source id with no mapping goes to `default_class` or, without one, is dropped.
    """

    def __init__(self, labels: LabelMap, num_source_classes: int) -> None:
        """Precompute the [num_source, num_classes] 0/1 matrix."""
        self.labels = labels
        matrix = np.zeros((num_source_classes, len(labels.classes)), dtype=np.float32)
        default = labels.class_id(labels.default_class) if labels.default_class is not None else None
        for sid in range(num_source_classes):
            name = labels.source_to_class.get(sid)
            if name is not None:
                matrix[sid, labels.class_id(name)] = 1.0
            elif default is not None:
                matrix[sid, default] = 1.0
        self._matrix = matrix

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        """[N, num_source] probabilities -> [N, num_classes] probabilities."""
        return probs.astype(np.float32, copy=False) @ self._matrix

    def classify(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits [N, num_source] -> (our class id per row, its probability)."""
        rolled = self(softmax(logits))
        ids = rolled.argmax(axis=1)
        return ids, rolled[np.arange(len(ids)), ids]
