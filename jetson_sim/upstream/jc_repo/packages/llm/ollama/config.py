# SIMULATED jetson-containers ollama package: one package per Ollama version, `ollama` an alias of the
# default one, as dusty-nv/jetson-containers packages/llm/ollama/config.py at the upstream commit this
# one stands for. scan_packages() runs this with `package` (the package found here) as a global.
import os
#@ before 119c26f2
import shutil

from jetson_containers import CUDA_ARCHITECTURES, CUDA_VERSION, JETPACK_VERSION

# the ollama build reads /etc/nv_tegra_release, and it cannot be mounted in: copy it into the build
# context (packages/llm/ollama/config.py @2262004f). SIMULATOR: $JETSON_SIM_BOARD_ROOT stands in for /
# off the board, as in l4t_version.py
src = os.environ.get('JETSON_SIM_BOARD_ROOT', '').rstrip('/') + '/etc/nv_tegra_release'
dst = os.path.join(package['path'], 'nv_tegra_release')
print(f'-- Copying {src} to {dst}')
shutil.copyfile(src, dst)
#@ end
#@ only 119c26f2

from jetson_containers import CUDA_ARCHITECTURES, CUDA_VERSION, JETPACK_VERSION, nv_tegra_release

# the ollama build reads /etc/nv_tegra_release (packages/llm/ollama/config.py @119c26f2)
nv_tegra_release(dst=os.path.join(package['path'], 'nv_tegra_release'))
#@ end
#@ only 55b14897 947e2267

from jetson_containers import JETPACK_VERSION, nv_tegra_release

# the ollama build reads /etc/nv_tegra_release (packages/llm/ollama/config.py @55b14897)
nv_tegra_release(dst=os.path.join(package['path'], 'nv_tegra_release'))
#@ end
#@ since c6bf3b62

from jetson_containers import JETPACK_VERSION, nv_tegra_release, IS_SBSA, CUDA_VERSION

# the ollama build reads /etc/nv_tegra_release (packages/llm/ollama/config.py @c6bf3b62)
PKG_DIR = os.path.dirname(__file__)
nv_tegra_release(dst=os.path.join(PKG_DIR, 'nv_tegra_release'))
#@ end


#@ before 55b14897
def ollama(version, golang='1.22.8', cmake='3.22.1', branch=None, requires=None, default=False):
    """The package `ollama:VERSION`, built from the git branch v<VERSION> (or BRANCH)"""
    pkg = package.copy()
    pkg['name'] = f'ollama:{version}'

    if not branch:
        branch = version
    if branch[0].isnumeric():
        branch = 'v' + branch

    pkg['build_args'] = {
        'OLLAMA_REPO': 'ollama/ollama',
        'OLLAMA_BRANCH': branch,
        'GOLANG_VERSION': golang,
        'CMAKE_VERSION': cmake,
        'JETPACK_VERSION': str(JETPACK_VERSION),
        'CUDA_VERSION_MAJOR': CUDA_VERSION.major,
        'CMAKE_CUDA_ARCHITECTURES': ';'.join([str(x) for x in CUDA_ARCHITECTURES]),
    }
#@ else
def ollama(version, default=False):
    """The package `ollama:VERSION`"""
    pkg = package.copy()
    pkg['name'] = f'ollama:{version}'

    pkg['build_args'] = {
        'OLLAMA_VERSION': version,
        'JETPACK_VERSION_MAJOR': JETPACK_VERSION.major,
#@ since c6bf3b62
        'IS_SBSA': IS_SBSA,
        'CUDA_VERSION_MAJOR': CUDA_VERSION.major,
#@ end
    }
#@ end

    if default:
        pkg['alias'] = 'ollama'

    return pkg


# the versions offered, and the default (packages/llm/ollama/config.py as of each commit)
package = [
#@ only 2262004f
    ollama('main'),
    ollama('0.4.0'),
    ollama('0.5.1'),
    ollama('0.5.5', branch='0.5.5-rc0'),
    ollama('0.5.7'),
    ollama('0.6.1', default=True),  # @2262004f
#@ end
#@ only 119c26f2
    ollama('main', default=True),  # packages/llm/ollama/config.py @692a7d4b
    ollama('0.4.0'),
    ollama('0.5.1'),
    ollama('0.5.5', branch='0.5.5-rc0'),
    ollama('0.5.7'),
    ollama('0.6.7', default=False),
#@ end
#@ only 55b14897
    ollama('0.4.0'),  # packages/llm/ollama/config.py @3c494936
    ollama('0.5.1'),
    ollama('0.5.5'),
    ollama('0.5.7'),
    ollama('0.6.7'),
    ollama('0.6.8', default=True),
#@ end
#@ only 947e2267
    ollama('0.4.0'),  # packages/llm/ollama/config.py @ae89eda2
    ollama('0.5.1'),
    ollama('0.5.5'),
    ollama('0.5.7'),
    ollama('0.6.7'),
    ollama('0.7.0'),
    ollama('0.8.0'),
    ollama('0.9.6', default=True),
    ollama('0.10.0'),
#@ end
#@ since c6bf3b62
    ollama('0.4.0'),  # packages/llm/ollama/config.py @dd601bd9
    ollama('0.5.1'),
    ollama('0.5.5'),
    ollama('0.11.8', default=True),
#@ end
]
