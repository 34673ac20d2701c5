"""What every skcanon estimator shares beyond scikit-learn's base classes."""

DOCS_URL = "https://skcanon.readthedocs.io/en/latest"


class SkcanonEstimatorMixin:
    """Links the HTML repr (notebooks) to the estimator's page in skcanon's API reference."""

    _doc_link_module = "skcanon"
    _doc_link_template = DOCS_URL + "/generated/{estimator_module}.{estimator_name}.html"
