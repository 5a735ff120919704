"""Write the toy COCO, ADE20K and ImageNet sets (see mmhybrid.utils.toy_data).

    python tools/misc/make_toy_data.py data/   # data/toy_{coco,ade,imagenet}
"""
import argparse

from mmhybrid.utils.toy_data import make_toy_data


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir', nargs='?', default='data')
    parser.add_argument('--num-train', type=int, default=64)
    parser.add_argument('--num-val', type=int, default=16)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    roots = make_toy_data(args.out_dir, num_train=args.num_train,
                          num_val=args.num_val, seed=args.seed)
    for name, root in roots.items():
        print(f'{name}: {root}')


if __name__ == '__main__':
    main()
