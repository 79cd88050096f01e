"""The numerical core: crossproduct blocks of [Z X y], the blocked Cholesky factor and the
profiled criterion. The only place where a matrix is factored."""
