"""The explaining features: what a geometry computes, shown and drawn.

- :mod:`convcli.explain.arithmetic` -- ``convcli shape``: the sizes of a geometry, axis by
  axis, and which relationship of Dumoulin & Visin gives them (standard library only);
- :mod:`convcli.explain.animate` -- ``convcli animate``: the kernel sliding over the padded
  input, frame by frame;
- :mod:`convcli.explain.response` -- ``convcli kernels --response``: a kernel's frequency
  response, plotted, and its properties.

Importing this package imports nothing else (``convcli shape`` starts instantly).
"""
