"""Applications of trained autoencoders: each module is a set of pure functions over a `Trained` and arrays."""
