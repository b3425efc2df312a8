"""SRCNN 9-5-5, state_dict layout of yjn870/SRCNN-pytorch (models.py).

Keys: conv1 (64,1,9,9), conv2 (32,64,5,5), conv3 (1,32,5,5), all with bias: 57,281 parameters.
The network works at HR size on a bicubic-upscaled Y input, so one architecture serves x2/x3/x4
(the scale only selects which official checkpoint applies).
"""
from torch import nn


class SRCNN(nn.Module):
    def __init__(self, num_channels: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(num_channels, 64, kernel_size=9, padding=9 // 2)
        self.conv2 = nn.Conv2d(64, 32, kernel_size=5, padding=5 // 2)
        self.conv3 = nn.Conv2d(32, num_channels, kernel_size=5, padding=5 // 2)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        return self.conv3(x)
