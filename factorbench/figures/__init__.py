"""Every image and plot factorbench writes, in one look (:mod:`.style`: one palette, one
padding): :mod:`.grids` (rows of images: reconstructions, samples, latent strips),
:mod:`.boxes` (images with their boxes, glimpse steps), :mod:`.preview` (a dataset's
samples with masks, boxes and captions), :mod:`.plots` (matplotlib: curves, scatter plots
of embeddings, the report's plots). Base layer: imports nothing above errors/fileio.
"""
