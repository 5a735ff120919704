# ViT-LSLA-T on IP102 (102 insect-pest classes, the paper's first dataset)
# as an ImageNet-style folder: data_root/{train,val}/<class>/*.jpg. The
# recipe is ./classifier_lsla_t_mini_imagenet_300e.py. IP102's own release
# lists images in train.txt / val.txt ("<file> <label>" lines); to read it as
# is, set ann_file='train.txt' / 'val.txt' and data_prefix='images' in the
# two datasets below (mmpretrain's CustomDataset reads such lists).
_base_ = './classifier_lsla_t_mini_imagenet_300e.py'

num_classes = 102
data_root = 'data/ip102/'
model = dict(head=dict(num_classes=num_classes))
data_preprocessor = dict(num_classes=num_classes)
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
