/* specdec public API: see the README. Filled in by the core inference work. */
#ifndef SPECDEC_H
#define SPECDEC_H
#endif
