"""The numerical core: crossproduct blocks of [Z X y], the blocked Cholesky factor and the
profiled criterion. The only place where a matrix is factored.

Modules, in the order the data flow through them:

* :mod:`.blocks` the crossproduct blocks from in-memory arrays, :mod:`.rows` from a row source
  in chunks (sums over rows);
* :mod:`.layout` where theta goes (templates T_k, the pattern of Lambda); :mod:`.limits` the
  sizes at which the core changes strategy;
* :mod:`.first_term` the first term eliminated level by level; :mod:`.schur` the Schur block of
  the other terms and ``[X y]``; :mod:`.factor` the factor at theta and the criterion;
  :mod:`.solve` beta, u, ``(R_X'R_X)^-1``, conditional variances;
* :mod:`.lmm` :class:`LmmCore`, the face that composes them;
* for PIRLS (one weighted problem per step, same design): :mod:`.reweight`, the face PIRLS uses
  (``for_reweighting(terms, X)``, then ``system.reweight(w, z)``), which holds the system in the
  form its cost calls for: LmmCore refilled in place, or the small-system forms of
  :mod:`.pls_dense` and :mod:`.pls_blocked`. Every dense Cholesky is
  :func:`.factor.lower_cholesky`.
"""
from .lmm import Factorization, LmmCore, ThetaLayout

__all__ = ["LmmCore", "Factorization", "ThetaLayout"]
