"""ESPCN (Shi et al., CVPR 2016) as a team would package it, registered with srharness."""
