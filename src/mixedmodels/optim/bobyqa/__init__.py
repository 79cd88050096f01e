"""BOBYQA: bound-constrained derivative-free minimization (M. J. D. Powell, 2009).

A pure-Python port of Powell's Fortran BOBYQA (report DAMTP 2009/NA06, "The
BOBYQA algorithm for bound constrained optimization without derivatives"),
translated from the C version that ships with NLopt and checked line by line
against Powell's Fortran.  It reproduces the sequence of evaluation points of
Powell's code, for any number of interpolation points ``npt`` in
``[n+2, (n+1)(n+2)/2]``.  NLopt's additions (its extra stopping tests and
its rescaling of the variables) are left out.

Every floating-point operation is done in Powell's order (scalar loops over
Python floats, not numpy reductions): where the optimum lies on a bound, some
decisions of the algorithm test quantities that are exactly zero in Powell's
arithmetic and merely tiny under another summation order, so anything but
Powell's order changes the iterates.  With the same order the evaluation
points agree with the Fortran code bit for bit.

Python port for mixedmodels.

Copyright (c) 2009 M. J. D. Powell (mjdp@cam.ac.uk)
Modifications Copyright (c) 2010 Massachusetts Institute of Technology

Permission is hereby granted, free of charge, to any person obtaining
a copy of this software and associated documentation files (the
"Software"), to deal in the Software without restriction, including
without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to
permit persons to whom the Software is furnished to do so, subject to
the following conditions:

The above copyright notice and this permission notice shall be
included in all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND,
EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE
LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION
OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION
WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.

Conventions of the port
-----------------------
* Arrays are Python lists, indices 0-based: ``XPT(K,J)`` is ``xpt[k][j]``,
  ``BMAT(I,J)`` is ``bmat[i][j]`` (``npt + n`` rows of ``n``), ``ZMAT(K,J)`` is
  ``zmat[k][j]`` (``npt`` rows of ``npt - n - 1``).  ``HQ`` keeps Powell's packed
  upper-triangle storage: element ``(i, j)``, ``i <= j``, is
  ``hq[i + j * (j + 1) // 2]``.
* Indices meaning "none" (Fortran ``KNEW=0``, ``IACT=0``) are ``-1``.  Signed
  bound indicators (``ILBD``, ``IUBD``, ``ISBD``, ``IBDSAV`` in ALTMOV) and the
  coordinate numbers decoded from ``PTSID`` in RESCUE stay 1-based, as in the
  Fortran, with ``- 1`` at the array access.
* The ``GOTO`` structure of BOBYQB and TRSBOX is kept as a loop over a
  ``label`` variable whose values are Powell's statement labels.
* Differences from R's minqa (the code lme4 uses): minqa >= 1.2.5 resets
  ``IBDSAV`` to zero after the line searches in ALTMOV, so that XNEW is not
  put exactly onto the bound that limited the step, and minqa maps a
  non-finite objective value to the largest double.  ``minqa_compat=True``
  reproduces both.  (minqa's RESCUE also passes an undefined variable to
  CALFUN; that defect is not reproduced: RESCUE here is Powell's.)

Layout of the subpackage
------------------------
One module per subroutine of Powell's, under his names: ``driver`` (SUBROUTINE BOBYQA),
``bobyqb`` (the main iteration), ``prelim``, ``trsbox``, ``altmov``, ``rescue``, ``update`` (with
BOBYQB's choice of the point to replace), ``shift`` (BOBYQB's shift of XBASE); ``kernels`` holds the
inner loops several of them share, ``objective`` CALFUN.  Only :func:`bobyqa` and
:class:`BobyqaResult` are the interface; the rest is the port.
"""
from .driver import STATUS_MESSAGES, BobyqaResult, bobyqa

__all__ = ["BobyqaResult", "bobyqa", "STATUS_MESSAGES"]
