# CIFAR-100-LT (as cifar100-lt.py) with the strong augmentation of recent
# long-tail recipes such as GALA: random crop + flip, the CIFAR-10
# AutoAugment policy and Cutout 16; 64 training images per GPU.
_base_ = ['./cifar100-lt.py']
custom_imports = dict(imports=['mmlt'], allow_failed_imports=False)

# CIFAR-10 AutoAugment policy (Cubuk et al. 2019) with the magnitude grid of
# DeepVoltaire/AutoAugment, as used by the GALA authors: level k of 9 maps to
# shear 0.3k/9, translate (150/331)k/9 of the size, rotate 30k/9 degrees,
# colour / contrast / sharpness / brightness factor 1 +- 0.9k/9, posterize
# round(8 - 4k/9) bits, solarize threshold 256 - 256k/9.
# yapf: disable
translate = 150 / 331  # level 9
cifar10_policy = [
    [dict(type='Invert', prob=0.1), dict(type='Contrast', magnitude=0.6, prob=0.2)],  # noqa: E501
    [dict(type='Rotate', angle=30 / 9 * 2, prob=0.7), dict(type='Translate', magnitude=translate, prob=0.3, direction='horizontal')],  # noqa: E501
    [dict(type='Sharpness', magnitude=0.1, prob=0.8), dict(type='Sharpness', magnitude=0.3, prob=0.9)],  # noqa: E501
    [dict(type='Shear', magnitude=0.3 / 9 * 8, prob=0.5, direction='vertical'), dict(type='Translate', magnitude=translate, prob=0.7, direction='vertical')],  # noqa: E501
    [dict(type='AutoContrast', prob=0.5), dict(type='Equalize', prob=0.9)],
    [dict(type='Shear', magnitude=0.3 / 9 * 7, prob=0.2, direction='vertical'), dict(type='Posterize', bits=5, prob=0.3)],  # noqa: E501
    [dict(type='ColorTransform', magnitude=0.3, prob=0.4), dict(type='Brightness', magnitude=0.7, prob=0.6)],  # noqa: E501
    [dict(type='Sharpness', magnitude=0.9, prob=0.3), dict(type='Brightness', magnitude=0.9, prob=0.7)],  # noqa: E501
    [dict(type='Equalize', prob=0.6), dict(type='Equalize', prob=0.5)],
    [dict(type='Contrast', magnitude=0.7, prob=0.6), dict(type='Sharpness', magnitude=0.5, prob=0.6)],  # noqa: E501
    [dict(type='ColorTransform', magnitude=0.7, prob=0.7), dict(type='Translate', magnitude=translate / 9 * 8, prob=0.5, direction='horizontal')],  # noqa: E501
    [dict(type='Equalize', prob=0.3), dict(type='AutoContrast', prob=0.4)],
    [dict(type='Translate', magnitude=translate / 9 * 3, prob=0.4, direction='vertical'), dict(type='Sharpness', magnitude=0.6, prob=0.2)],  # noqa: E501
    [dict(type='Brightness', magnitude=0.6, prob=0.9), dict(type='ColorTransform', magnitude=0.8, prob=0.2)],  # noqa: E501
    [dict(type='Solarize', thr=256 / 9 * 7, prob=0.5), dict(type='Invert', prob=0.0)],  # noqa: E501
    [dict(type='Equalize', prob=0.2), dict(type='AutoContrast', prob=0.6)],
    [dict(type='Equalize', prob=0.2), dict(type='Equalize', prob=0.8)],
    [dict(type='ColorTransform', magnitude=0.9, prob=0.9), dict(type='Equalize', prob=0.6)],  # noqa: E501
    [dict(type='AutoContrast', prob=0.8), dict(type='Solarize', thr=256 / 9, prob=0.2)],  # noqa: E501
    [dict(type='Brightness', magnitude=0.3, prob=0.1), dict(type='ColorTransform', magnitude=0.0, prob=0.7)],  # noqa: E501
    [dict(type='Solarize', thr=256 / 9 * 4, prob=0.4), dict(type='AutoContrast', prob=0.9)],  # noqa: E501
    [dict(type='Translate', magnitude=translate, prob=0.9, direction='vertical'), dict(type='Translate', magnitude=translate, prob=0.7, direction='vertical')],  # noqa: E501
    [dict(type='AutoContrast', prob=0.9), dict(type='Solarize', thr=256 / 9 * 6, prob=0.8)],  # noqa: E501
    [dict(type='Equalize', prob=0.8), dict(type='Invert', prob=0.1)],
    [dict(type='Translate', magnitude=translate, prob=0.7, direction='vertical'), dict(type='AutoContrast', prob=0.9)],  # noqa: E501
]
# yapf: enable
train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='AutoAugment', policies=cifar10_policy),
    # filled with the mean colour, i.e. zero after normalisation (Cutout of
    # DeVries & Taylor 2017)
    dict(type='Cutout', shape=16, prob=1.0, pad_val=[129, 124, 112]),
    dict(type='PackInputs'),
]

train_dataloader = dict(batch_size=64, dataset=dict(pipeline=train_pipeline))
