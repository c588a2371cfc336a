"""Bringing tasks from other formats in (Harbor/AutoLab), keeping our trust model."""
