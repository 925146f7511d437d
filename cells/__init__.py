"""The domain core of cellsweep: describe a cell model as data, then evaluate parameter sets on it."""
