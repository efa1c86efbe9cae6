"""One module per checkpoint format, behind the content-sniffing dispatcher `stylegan.checkpoints`.

native (what `save_generator` writes), nvlabs (pickles and bare state dicts), tf
(legacy TensorFlow pickles), mmagic, rosinality; `infer` derives the Generator's
kwargs from tensor shapes; `_base` holds what they share. Use the public API of
`stylegan.checkpoints` (`load_generator`, `detect_format`, ...), not these modules.
"""
