/* version: the one place the module's version is written. */
#ifndef GPTIMAGE_VERSION
#define GPTIMAGE_VERSION "0.1.0"
#endif
