"""Class activation maps drawn on the patterns (report/diffraction.py)."""

import numpy as np

from matloop.report.diffraction import plot_cam


def test_plot_cam_says_where_each_class_map_peaks():
    x = np.linspace(10, 60, 501)
    curves = np.vstack([np.exp(-((x - 30) / 0.3) ** 2)] * 4 + [np.exp(-((x - 45) / 0.3) ** 2)] * 3)
    cams = np.vstack([np.exp(-((x - 31) / 1.0) ** 2)] * 4 + [np.exp(-((x - 45) / 1.0) ** 2)] * 3)
    labels = np.array(["a"] * 4 + ["b"] * 3)
    plot = plot_cam(x, curves, cams, labels)
    assert "a at 31" in plot.takeaway and "b at 45" in plot.takeaway
    assert len(plot.figure.axes) == 2
