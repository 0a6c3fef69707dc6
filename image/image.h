#pragma once
/* Images as ordered layer stacks with a config; OCI archive formats. Pure data and files. */
