"""The built-in plugin. Its modules hold hook implementations and strings only;
the torch code they point at lives in :mod:`ganzoo.models`, :mod:`ganzoo.objectives`
and :mod:`ganzoo.data`, imported when an entry is used."""
