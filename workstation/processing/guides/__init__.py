"""Guide design on meshes: booleans, cuts, offsets, the guide generator and its report."""
