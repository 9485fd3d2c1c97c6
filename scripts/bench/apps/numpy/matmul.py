# /// script
# requires-python = ">=3.10"
# dependencies = ["numpy==2.4.6"]
# ///

# /// pyk
# name = "matmul"
# ///
"""numpy: a deterministic 200x200 matrix product, printed as its trace."""
import numpy as np

a = np.arange(200 * 200, dtype=np.float64).reshape(200, 200) / 1e4
b = a.T.copy()
print(f"trace {np.trace(a @ b):.6e}")
