"""Anomaly simulation for the synthetic-anomaly methods.

* :mod:`.resynth` — ReSynthDetect's consistent anomaly generator (augmented crop of another normal
  image, Perlin-noise shape, self-mix paste weighted by a Euclidean distance transform).
* :mod:`.mmrad` — MMRAD's general simulation workflow (choose a region with probability 0.7,
  albumentations pixel + spatial transforms, affine twist), the same for fundus and OCT.
* :mod:`.real` — real anomalies with reviewer pixel labels, mixed into training.
* :mod:`.gallery` — a PNG contact sheet of samples to look at.

Every generator draws only from the ``numpy.random.Generator`` it is given, so a seed reproduces
the samples exactly.
"""

from core.data.anomaly_synthesis.mmrad import MMRADSimulator
from core.data.anomaly_synthesis.perlin import perlin_mask, perlin_noise
from core.data.anomaly_synthesis.resynth import ConsistentAnomalyGenerator

__all__ = ["ConsistentAnomalyGenerator", "MMRADSimulator", "perlin_mask", "perlin_noise"]
