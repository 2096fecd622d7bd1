import { memoryPglite } from '../helpers/databases.js';
import { deletedAtSuite } from './deleted-at-suite.js';

deletedAtSuite('PGlite', memoryPglite);
