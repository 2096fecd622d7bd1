import { memoryPglite } from '../helpers/databases.js';
import { rawValuesSuite } from './raw-values-suite.js';

rawValuesSuite('PGlite', memoryPglite);
