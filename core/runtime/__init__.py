"""Runtime pieces shared by every engine layer: progress and cancellation, the compute device, and
verified weights files. Below models, training and SAM; imports neither of them."""
