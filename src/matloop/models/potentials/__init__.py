"""Pre-trained universal interatomic potentials as sources of structure descriptors.

:class:`~matloop.models.potentials.features.UniversalPotentialFeatures` (CHGNet embeddings, energy,
magnetic moments, a bulk-modulus estimate) is imported from its module, so that importing this
package loads neither PyTorch nor CHGNet.
"""
