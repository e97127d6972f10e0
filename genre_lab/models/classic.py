"""Classical classifiers on feature tables, as scikit-learn pipelines (scaling inside the
pipeline, so cross-validation fits the scaler on training folds only).

Notebook: 03-classical-baselines.
"""

from __future__ import annotations

from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC


def pipeline(estimator, *, scale: bool = True) -> Pipeline:
    """``StandardScaler`` (optional) then the estimator."""
    steps = [("scale", StandardScaler())] if scale else []
    return Pipeline(steps + [("model", estimator)])


def deep_mlp(*, hidden=(256, 128, 64, 32), alpha: float = 1e-3, batch_size: int = 32,
             learning_rate_init: float = 1e-3, max_iter: int = 300, seed: int = 0) -> Pipeline:
    """A 5-layer perceptron (four hidden layers and the output), Miri, Enriquez & Donohue's
    "standard NN", with L2 penalty ``alpha`` and early stopping on a held-out tenth of the
    training data."""
    return pipeline(MLPClassifier(hidden_layer_sizes=hidden, alpha=alpha, batch_size=batch_size,
                                  learning_rate_init=learning_rate_init, max_iter=max_iter,
                                  early_stopping=True, n_iter_no_change=15, random_state=seed))


def baselines(seed: int = 0) -> dict[str, Pipeline]:
    """The chapter's classical models, each a pipeline with scaling."""
    return {
        "logistic regression": pipeline(LogisticRegression(max_iter=3000, C=1.0)),
        "k-nearest neighbours": pipeline(KNeighborsClassifier(n_neighbors=5)),
        "SVM (RBF)": pipeline(SVC(C=10.0, gamma="scale", random_state=seed)),
        "random forest": pipeline(RandomForestClassifier(n_estimators=300, random_state=seed,
                                                         n_jobs=-1), scale=False),
        "MLP (5 layers)": deep_mlp(seed=seed),
    }
