"""From a parsed formula and a data frame to the model's matrices.

columns   the data as pandas, column types as R reads them (logicals, integers, numbers as objects)
matrix    formulaic model matrices through the closed evaluator's gate, R's column names
frame     the model frame: the rows used (na.omit), response, weights and offset
coding    R's coding of factors (contrasts or dummies by term, contr.poly), replayed on new data
fixed     the fixed-effects matrix X, the one rank check (independent_columns), lme4's warnings
random    the random-effects terms: level codes and each term's own model matrix
newdata   a fitted spec's model matrix on other data, the fit untouched
"""
