"""Pure array tools of the segment editor: brush, scissors, grow, interpolate, smooth, measure."""
