"""ipywidgets views. Each widget is a thin view over a pure, tested model function."""
