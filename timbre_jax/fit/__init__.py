"""Fitting: one problem or a list (learn), chunks of groups (sweep), saved batches (resume), several processes."""
